// Worker-thread entry of a training job (started by runTrainingInWorker). Reads the spec and
// candles from workerData, posts TrainingJobEvents, stops on a 'stop' message or the shared flag.
import { parentPort, workerData } from 'node:worker_threads';
import { runTrainingJob, type TrainingJobCommand, type TrainingJobEvent, type TrainingWorkerData } from './training-job.ts';

const port = parentPort;
if (!port) throw new Error('training-worker.ts must run in a worker thread');

const data = workerData as TrainingWorkerData;
const stopFlag = new Int32Array(data.stop_flag);
let stopRequested = false;
const post = (event: TrainingJobEvent): void => port.postMessage(event);

port.on('message', (command: TrainingJobCommand) => {
  if (command.type === 'stop') stopRequested = true;
});

try {
  const result = await runTrainingJob(data.spec, data.candles, {
    onStarted: ({ backend, candles }) => post({ type: 'started', job_id: data.spec.job_id, backend, candles }),
    onProgress: (progress) => post({ type: 'progress', job_id: data.spec.job_id, progress }),
    shouldStop: () => stopRequested || Atomics.load(stopFlag, 0) === 1,
  });
  post({ type: 'result', job_id: data.spec.job_id, result });
} catch (error) {
  post({ type: 'error', job_id: data.spec.job_id, message: error instanceof Error ? error.message : String(error) });
} finally {
  // Let the thread end on its own once the last message is out.
  port.removeAllListeners('message');
  port.unref();
}
