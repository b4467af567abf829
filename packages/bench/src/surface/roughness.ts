import { ArgumentError } from '@dqa/core';

/** How rough a surface sampled on a grid is. */
export interface Roughness {
  /** Σ |L(p) − L(q)| over horizontally and vertically adjacent grid points p, q. */
  totalVariation: number;
  /**
   * 2 · total variation / ((rows + cols)·(max − min)): on a square grid 1 for any tilted plane,
   * 2 for a bowl (every row and column goes down and up once), more for a surface that goes up
   * and down again; scale-free, so surfaces of different loss ranges compare. 0 when flat.
   */
  normalizedTotalVariation: number;
  /** Interior grid points strictly below all 8 neighbours. */
  localMinima: number;
  min: number;
  max: number;
}

/**
 * The roughness of `values`, a `rows` × `cols` grid in row-major order (row r, column c at
 * r·cols + c): its total variation (absolute differences between 4-neighbours) and its strict
 * local minima (interior points below all 8 neighbours; border points are left out because their
 * neighbourhood is cut, which would count the low corner of any sloped plane).
 */
export function surfaceRoughness(values: ArrayLike<number>, rows: number, cols: number): Roughness {
  if (!(Number.isInteger(rows) && Number.isInteger(cols) && rows >= 1 && cols >= 1))
    throw new ArgumentError(
      `surfaceRoughness: rows and cols must be integers ≥ 1, got ${rows}×${cols}`,
    );
  if (values.length !== rows * cols)
    throw new ArgumentError(
      `surfaceRoughness: a ${rows}×${cols} grid needs ${rows * cols} values, got ${values.length}`,
    );
  const at = (r: number, c: number) => values[r * cols + c]!;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let tv = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = at(r, c);
      if (!Number.isFinite(v))
        throw new ArgumentError(`surfaceRoughness: value at row ${r}, column ${c} is ${v}`);
      min = Math.min(min, v);
      max = Math.max(max, v);
      if (c + 1 < cols) tv += Math.abs(at(r, c + 1) - v);
      if (r + 1 < rows) tv += Math.abs(at(r + 1, c) - v);
    }
  }
  let localMinima = 0;
  for (let r = 1; r + 1 < rows; r++) {
    for (let c = 1; c + 1 < cols; c++) {
      const v = at(r, c);
      let lowest = true;
      for (let dr = -1; dr <= 1 && lowest; dr++)
        for (let dc = -1; dc <= 1; dc++)
          if ((dr || dc) && !(v < at(r + dr, c + dc))) {
            lowest = false;
            break;
          }
      if (lowest) localMinima++;
    }
  }
  const range = max - min;
  return {
    totalVariation: tv,
    normalizedTotalVariation: range > 0 ? (2 * tv) / ((rows + cols) * range) : 0,
    localMinima,
    min,
    max,
  };
}
