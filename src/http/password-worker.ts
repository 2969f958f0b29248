// Worker-thread entry for PasswordVerifier: one bcrypt comparison per task, on a thread of its own.
import bcrypt from 'bcryptjs';

export interface PasswordTask {
  readonly password: string;
  readonly hash: string;
}

/** Synchronous on purpose: this thread has nothing else to do, and the async form only adds yields. */
export default function comparePassword(task: PasswordTask): boolean {
  return bcrypt.compareSync(task.password, task.hash);
}
