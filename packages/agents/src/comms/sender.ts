/**
 * The sender of the comms agent's emails (`NEXUS_EMAIL_FROM`), parsed once for the agent (config.ts) and for the stack,
 * which conditions SES on its address (stacks/settings.ts), so that the two cannot disagree. Light on purpose (no
 * imports): the stack imports it.
 */

/**
 * An email address as SES accepts it in a destination: ASCII dot-atom local part (≤ 64 characters), a
 * domain of dot-separated DNS labels with at least one dot, nothing else: no display name, no comments, no
 * whitespace, so no CR/LF either (header injection). Internationalised domains go in their `xn--` form.
 * Valid both with and without the `u` flag (the registry compiles it with and without).
 */
export const EMAIL_ADDRESS =
  /^(?=[^@]{1,64}@)[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** What a `NEXUS_EMAIL_FROM` value may be, for error messages. */
export const SENDER_FORMAT = "'name@example.com' or 'Display Name <name@example.com>' (ASCII, one line)";

/**
 * A `NEXUS_EMAIL_FROM` value split into its address and its display name (unquoted; empty when there is none), or
 * undefined when it is not {@link SENDER_FORMAT}.
 */
export function splitSender(raw: string): { name: string; address: string } | undefined {
  const match = /^(?:(.*?)\s*<([^<>]+)>|([^<>\s]+))$/.exec(raw.trim());
  const address = match?.[2] ?? match?.[3] ?? "";
  const name = (match?.[1] ?? "").replace(/^"(.*)"$/, "$1");
  if (!EMAIL_ADDRESS.test(address) || !/^[\x20-\x7e]{0,64}$/.test(name) || /["\\]/.test(name)) return undefined;
  return { name, address };
}
