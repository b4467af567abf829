import { Registry } from '../registry.js';
import { binaryRelaxRelaxation } from './binary-relax.js';
import { dqaRelaxation } from './dqa.js';
import { qnetRelaxation } from './qnet.js';
import type { Relaxation } from './relaxation.js';
import { steRelaxation } from './ste.js';

export * from './binary-relax.js';
export * from './dqa.js';
export * from './qnet.js';
export * from './relaxation.js';
export * from './ste.js';

/** The relaxation registry: `ste`, `binary-relax`, `dqa`, `qnet`; open to more. */
export const relaxations = new Registry<Relaxation<never>>('relaxation');
relaxations
  .register(steRelaxation as Relaxation<never>)
  .register(binaryRelaxRelaxation as Relaxation<never>)
  .register(dqaRelaxation as Relaxation<never>)
  .register(qnetRelaxation as Relaxation<never>);
