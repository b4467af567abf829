import type { LayerAttentionEvent, TrainEvent } from '@dqa/core';
import { SingleBar } from 'cli-progress';

/**
 * Training progress for `dqa train`: a bar with ETA, the cross-entropy and the regularizer
 * (eq. 6) apart (a large λ would hide the cross-entropy in their sum), test accuracy, T and
 * the attention of the first and last quantized layers on a terminal; plain lines (one per epoch,
 * and every few percent) when the output is a file or a pipe.
 */
export interface TrainProgress {
  onEvent(e: TrainEvent): void;
  stop(): void;
}

const fmt = (v: number | undefined, digits = 3) =>
  v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits);

/** `conv1 2b.91` — the layer's strongest quantizer and its attention. */
function attentionSummary(
  layers: readonly LayerAttentionEvent[] | undefined,
  bits: (name: string) => number[] | undefined,
): string {
  // Layers with one quantizer (STE, qnet) have nothing to attend to.
  if (!layers?.some((l) => l.a.length > 1)) return '';
  const pick = layers.length > 2 ? [layers[0]!, layers.at(-1)!] : layers;
  return pick
    .map((l) => {
      let best = 0;
      l.a.forEach((a, k) => {
        if (a > l.a[best]!) best = k;
      });
      const b = bits(l.name)?.[best];
      return `${l.name.replace(/\/weights$/, '')} ${b ?? `Q${best + 1}`}b:${l.a[best]!.toFixed(2)}`;
    })
    .join(' ');
}

export function createTrainProgress(options: {
  stream: NodeJS.WriteStream | null;
  log: (line: string) => void;
  temperatureAt?: (step: number) => number | undefined;
  bits: (name: string) => number[] | undefined;
}): TrainProgress {
  const { stream, log } = options;
  let bar: SingleBar | null = null;
  let epochs = 0;
  let accuracy: number | undefined;
  let attention = '';
  let nextLogAt = 0;
  let totalSteps = 0;
  let started = Date.now();
  let startStep = 0;

  return {
    onEvent(e) {
      switch (e.type) {
        case 'start': {
          epochs = e.epochs;
          totalSteps = e.totalSteps;
          startStep = e.startEpoch * e.stepsPerEpoch;
          started = Date.now();
          if (stream) {
            bar = new SingleBar({
              stream,
              format:
                'epoch {epoch}/{epochs} {bar} {percentage}% | {value}/{total} | ETA {eta_formatted} | CE {loss}{reg} | acc {acc} | T {T} | {att}',
              barsize: 24,
              etaBuffer: 50,
              hideCursor: true,
              clearOnComplete: false,
              fps: 5,
            });
            bar.start(e.totalSteps, startStep, {
              epoch: e.startEpoch + 1,
              epochs,
              loss: '–',
              reg: '',
              acc: '–',
              T: '–',
              att: '',
            });
          } else {
            log(
              `training: ${e.epochs} epochs × ${e.stepsPerEpoch} steps${e.startEpoch ? `, resuming at epoch ${e.startEpoch + 1}` : ''}`,
            );
          }
          break;
        }
        case 'step': {
          if (e.attention) attention = attentionSummary(e.attention, options.bits);
          const T = options.temperatureAt?.(e.step);
          if (bar) {
            bar.update(e.step + 1, {
              epoch: e.epoch + 1,
              epochs,
              loss: fmt(e.loss - e.regularizer),
              reg: e.regularizer ? ` reg ${fmt(e.regularizer)}` : '',
              acc: accuracy === undefined ? '–' : `${(100 * accuracy).toFixed(1)}%`,
              T: T === undefined ? '–' : T < 1 ? T.toFixed(3) : T.toFixed(1),
              att: attention,
            });
          } else if (e.step + 1 >= nextLogAt) {
            const done = e.step + 1 - startStep;
            const left = totalSteps - e.step - 1;
            const eta = done > 0 ? ((Date.now() - started) / done) * left : 0;
            log(
              `step ${e.step + 1}/${totalSteps} epoch ${e.epoch + 1}/${epochs} CE ${fmt(e.loss - e.regularizer)}${e.regularizer ? ` reg ${fmt(e.regularizer)}` : ''}${T === undefined ? '' : ` T ${fmt(T)}`}${attention ? ` ${attention}` : ''} ETA ${Math.round(eta / 1000)}s`,
            );
            nextLogAt = e.step + 1 + Math.max(1, Math.ceil(totalSteps / 20));
          }
          break;
        }
        case 'epoch':
          accuracy = e.testAccuracy;
          if (!bar) {
            log(
              `epoch ${e.epoch + 1}/${epochs}: train loss ${fmt(e.trainLoss, 4)}, test loss ${fmt(e.testLoss, 4)}, test accuracy ${(100 * e.testAccuracy).toFixed(2)}% (${e.seconds.toFixed(1)} s)`,
            );
          }
          break;
        case 'end':
          bar?.stop();
          bar = null;
          break;
        default:
      }
    },
    stop() {
      bar?.stop();
      bar = null;
    },
  };
}
