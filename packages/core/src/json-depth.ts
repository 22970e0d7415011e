/** How deep a JSON value nests (a scalar is 0), measured without recursion so hostile input cannot overflow the stack. */
export function jsonDepth(value: unknown, stopAt = Number.POSITIVE_INFINITY): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop() as [unknown, number];
    if (current === null || typeof current !== "object") continue;
    const level = depth + 1;
    if (level > max) max = level;
    if (max > stopAt) return max;
    for (const child of Object.values(current)) stack.push([child, level]);
  }
  return max;
}

/**
 * Deepest nesting accepted in params and results: DynamoDB refuses items nested deeper than 32 levels, and
 * a task keeps params and result two levels down.
 */
export const MAX_JSON_DEPTH = 24;
