// Whether a running job has been asked to stop: a cancel (a Redis flag any process can set) or
// this worker shutting down. Runs look between pages and while they wait.
import type { JobControl } from './job-control.ts'
import type { StopReason } from './provider-gate.ts'

export interface RunSignal {
  /** The latest known stop request (refreshed in the background and by `refresh`). */
  stopReason(): StopReason | null
  /** Reads the cancel flag now. */
  refresh(): Promise<StopReason | null>
  dispose(): void
}

export function createRunSignal(control: Pick<JobControl, 'cancelRequested'>, jobId: string, shuttingDown: () => boolean, pollMs = 1_000): RunSignal {
  let cancelled = false
  const reason = (): StopReason | null => (cancelled ? 'cancelled' : shuttingDown() ? 'shutdown' : null)
  const refresh = async (): Promise<StopReason | null> => {
    if (!cancelled) cancelled = await control.cancelRequested(jobId).catch(() => false)
    return reason()
  }
  const timer = setInterval(() => void refresh(), pollMs)
  timer.unref()
  return { stopReason: reason, refresh, dispose: () => clearInterval(timer) }
}
