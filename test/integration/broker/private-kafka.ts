// A Kafka of a test's own, for faults the shared one must never see (stopped, paused): the same
// test/env/up.sh that starts the shared Kafka, with its own state directory and loopback ports.
// Only this process's Kafka is ever signalled, by the pid up.sh wrote into its own state.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../leases/helpers';

const run = promisify(execFile);
const UP = join(__dirname, '..', '..', 'env', 'up.sh');

export class PrivateKafka {
  private constructor(
    private readonly state: string,
    private readonly env: NodeJS.ProcessEnv,
    readonly bootstrapServers: string[],
  ) {}

  /** Formats and starts a one-node KRaft Kafka on free loopback ports (about 30-60 s). */
  static async start(): Promise<PrivateKafka> {
    const state = mkdtempSync(join(tmpdir(), 'herald-private-kafka-'));
    const [port, controller] = [await freePort(), await freePort()];
    const env = {
      ...process.env,
      HERALD_STATE: state,
      HERALD_KAFKA_PORT: String(port),
      HERALD_KAFKA_CONTROLLER_PORT: String(controller),
    };
    const kafka = new PrivateKafka(state, env, [`127.0.0.1:${port}`]);
    await kafka.up();
    return kafka;
  }

  private pid(): number {
    return Number(readFileSync(join(this.state, 'run', 'kafka.pid'), 'utf8').trim());
  }

  private async up(): Promise<void> {
    // up.sh's readiness looks for "Kafka Server started" in the log: start each run on a fresh one.
    rmSync(join(this.state, 'logs', 'kafka.log'), { force: true });
    await run('bash', [UP, 'kafka'], { env: this.env, maxBuffer: 16 * 1024 * 1024 });
  }

  /** Stops Kafka (SIGTERM, as a service stop does) and waits until the process is gone. */
  async stop(): Promise<void> {
    const pid = this.pid();
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return; // already gone
    }
    for (let i = 0; i < 600 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  }

  /** Starts the stopped Kafka again on the same ports and data. */
  restart(): Promise<void> {
    return this.up();
  }

  /** Freezes the Kafka process (SIGSTOP): connections stay open, nothing is answered. */
  pause(): void {
    process.kill(this.pid(), 'SIGSTOP');
  }

  resume(): void {
    process.kill(this.pid(), 'SIGCONT');
  }

  /** Stops Kafka for good and removes its data. */
  async destroy(): Promise<void> {
    try {
      this.resume();
    } catch {
      // not running
    }
    await this.stop();
    rmSync(this.state, { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
