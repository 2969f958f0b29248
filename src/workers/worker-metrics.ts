// A worker's side of prom-client's cluster aggregation: answers the primary's requests with this registry.
import { AggregatorRegistry, type Registry } from 'prom-client';

export function answerMetricsRequests(registry: Registry): void {
  AggregatorRegistry.setRegistries([registry]);
  // Constructing one in a worker is what installs prom-client's listener for the primary's requests.
  new AggregatorRegistry();
}
