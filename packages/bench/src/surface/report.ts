import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic-write.js';
import { writePlot } from '../plot/render.js';
import type { LossSurfaceResult } from './loss-surface.js';
import { surfaceSpec } from './plot.js';

const g = (v: number) => (Math.abs(v) >= 1000 ? v.toExponential(3) : v.toPrecision(4));

/** The roughness table of `dqa bench surface`, with the settings above it. */
export function surfaceMarkdown(result: LossSurfaceResult): string {
  const s = result.settings;
  const layers = `${s.quantizeFirstLayer ? 'first' : 'no first'} and ${s.quantizeLastLayer ? 'last' : 'no last'} layer quantized`;
  const lines = [
    `# Loss surface (the paper's Fig. 4): ${s.model} on ${s.data}`,
    '',
    `- A randomly initialised ${s.model} (seed ${s.seed}); loss = mean cross-entropy on the first ${s.examples} test images.`,
    `- L(α, β) = L(θ + α·d₁ + β·d₂) on a ${s.points}×${s.points} grid, α, β ∈ [−${s.span}, ${s.span}]; d₁, d₂ random Gaussian directions, filter-normalised (Li et al. 2017: each output filter scaled to its weights' norm; biases not moved).`,
    `- Every variant uses the same θ, d₁, d₂, and quantizes the perturbed kernels (${layers}); the DQA mixture's attention is fixed at T = ${s.temperature} (α from eq. 7, normalised as in Algorithm 1).`,
    `- TV: total variation, Σ |ΔL| between neighbouring grid points; TV/range: 2·TV / ((rows + cols)·(max − min)), 1 for a tilted plane, 2 for a bowl; local minima: interior grid points strictly below their 8 neighbours.`,
    '',
    '| variant | weights | L(0, 0) | min | max | TV | TV/range | local minima |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...result.variants.map((v) => {
      const r = v.roughness;
      return `| ${v.label} | ${v.description} | ${g(v.originLoss)} | ${g(r.min)} | ${g(r.max)} | ${g(r.totalVariation)} | ${r.normalizedTotalVariation.toFixed(3)} | ${r.localMinima} |`;
    }),
  ];
  const withAttention = result.variants.filter((v) => v.attention?.length);
  for (const v of withAttention) {
    lines.push(
      '',
      `Attention of "${v.label}" at T = ${s.temperature}: ${v.attention!.map((l) => `${l.layer.replace(/\/weights$/, '')} [${l.a.map((a, k) => `${l.bits[k]}b ${a.toFixed(3)}`).join(', ')}]`).join('; ')}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Writes surface.md, surface.json, surface.svg and (unless `png: false`) surface.png in `dir`. */
export async function writeSurface(
  result: LossSurfaceResult,
  dir: string,
  options: { png?: boolean } = {},
): Promise<{ md: string; json: string; svg: string; png?: string }> {
  const md = join(dir, 'surface.md');
  const json = join(dir, 'surface.json');
  await writeFileAtomic(md, surfaceMarkdown(result));
  await writeFileAtomic(
    json,
    `${JSON.stringify({ format: 'dqa-bench-surface', version: 1, ...result }, null, 2)}\n`,
  );
  const plot = await writePlot(join(dir, 'surface'), surfaceSpec(result), {
    png: options.png ?? true,
  });
  return { md, json, svg: plot.svg, ...(plot.png ? { png: plot.png } : {}) };
}
