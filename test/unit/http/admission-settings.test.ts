// The admission settings' pure rules: which break-glass keys reach tender from both endpoints, exemption, break-glass.
import { describe, expect, it } from 'vitest';
import { breakGlassAnnotationProblem } from '../../../src/config/admission.js';
import { defaultAdmissionSettings, hasBreakGlass, isExemptNamespace } from '../../../src/http/admission-settings.js';

describe('breakGlassAnnotationProblem', () => {
  it.each(['tender.image-policy.k8s.io/break-glass', 'mycluster.image-policy.k8s.io/break-glass', 'a.image-policy.k8s.io/b'])('accepts %s', (key) => {
    expect(breakGlassAnnotationProblem(key)).toBeUndefined();
  });

  it.each([
    ['break-glass', 'has no prefix'],
    ['tender.example/break-glass', 'does not match *.image-policy.k8s.io/*'],
    // The API server matches ".image-policy.k8s.io/": the bare domain has no dot before it.
    ['image-policy.k8s.io/break-glass', 'does not match *.image-policy.k8s.io/*'],
    ['Tender.image-policy.k8s.io/break-glass', 'is not a DNS subdomain'],
    ['tender.image-policy.k8s.io/', 'is not an annotation name'],
    [`tender.image-policy.k8s.io/${'b'.repeat(64)}`, 'is not an annotation name'],
    ['tender.image-policy.k8s.io/break glass', 'is not an annotation name'],
  ])('refuses %s', (key, problem) => {
    expect(breakGlassAnnotationProblem(key)).toContain(problem);
  });

  it('accepts the default', () => {
    expect(breakGlassAnnotationProblem(defaultAdmissionSettings.breakGlassAnnotation)).toBeUndefined();
  });
});

describe('exemption and break-glass', () => {
  const settings = { ...defaultAdmissionSettings, exemptNamespaces: ['kube-system', 'tender'] };

  it('exempts the listed namespaces only, and nothing without a namespace', () => {
    expect(isExemptNamespace(settings, 'kube-system')).toBe(true);
    expect(isExemptNamespace(settings, 'tender')).toBe(true);
    expect(isExemptNamespace(settings, 'kube-public')).toBe(false);
    expect(isExemptNamespace(settings, undefined)).toBe(false);
  });

  it('breaks glass only for the configured key set to "true"', () => {
    const key = settings.breakGlassAnnotation;
    expect(hasBreakGlass(settings, { [key]: 'true' })).toBe(true);
    for (const value of ['false', 'True', '1', 'yes', '']) expect(hasBreakGlass(settings, { [key]: value })).toBe(false);
    expect(hasBreakGlass(settings, { 'other.image-policy.k8s.io/break-glass': 'true' })).toBe(false);
    expect(hasBreakGlass(settings, {})).toBe(false);
  });

  it('is not fooled by an inherited property', () => {
    const inherited = Object.create({ [settings.breakGlassAnnotation]: 'true' }) as Record<string, string>;
    expect(hasBreakGlass(settings, inherited)).toBe(false);
  });

  it('the defaults are frozen', () => {
    expect(Object.isFrozen(defaultAdmissionSettings)).toBe(true);
    expect(Object.isFrozen(defaultAdmissionSettings.exemptNamespaces)).toBe(true);
  });
});
