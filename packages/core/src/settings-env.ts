import * as z from "zod";
import { pure } from "./pure.js";
import { HealthSettings } from "./schemas.js";

/**
 * The settings the deploying shell may give every function, as `NEXUS_*` variables: one schema, with which the
 * functions read them (context.ts) and the stack checks them at synth time (stacks/settings.ts), so that the stack
 * never passes a value a function would refuse at each cold start, nor refuses one a function takes. Unset, empty or
 * blank → absent (the defaults apply). Light on purpose (zod and the schemas only, no AWS client): the stack imports it.
 */

/** Unset, empty or blank → undefined; otherwise the trimmed text, checked by `schema`. */
const optionalText = <T extends z.ZodType>(schema: T) =>
  z.preprocess((raw) => (typeof raw === "string" ? raw.trim() || undefined : raw), schema.optional());

/** Text holding JSON, parsed and checked by `schema`; text that is not JSON is an issue like any other. */
const jsonText = <T extends z.ZodType>(schema: T) =>
  z
    .string()
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: "custom", message: "must be JSON" });
        return z.NEVER;
      }
    })
    .pipe(schema);

/** Requests per minute per API key, unless the key says otherwise: digits only, a whole number from 1. */
export const RateLimitSetting = /* @__PURE__ */ pure(() =>
  z
    .string()
    .regex(/^[1-9][0-9]*$/, "must be a positive integer")
    .transform(Number)
    .pipe(z.number().int()),
);

/** Tasks per UTC day for costly actions, by `<agentId>.<action>`: a JSON object of non-negative integers. */
export const DailyCapsSetting = jsonText(z.record(z.string(), z.number().int().min(0)));

/** Health thresholds and the probe interval ({@link HealthSettings}), as JSON. */
export const HealthSetting = jsonText(HealthSettings);

/**
 * A browser origin exactly as a browser sends it in `Origin`: `https://host` or `http://host:port`, lower case, no
 * path, no wildcard.
 */
const ORIGIN = /^https?:\/\/[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?$/;

/**
 * The browser origins allowed to call the API from their pages (CORS), comma-separated: exact origins such as
 * `https://app.example.com,http://localhost:5173`; never `*`. Unset → none (CORS off: only same-origin pages).
 */
export const CorsOriginsSetting = /* @__PURE__ */ pure(() =>
  z
    .string()
    .transform((text) => [
      ...new Set(
        text
          .split(",")
          .map((origin) => origin.trim())
          .filter(Boolean),
      ),
    ])
    .pipe(
      z
        .array(
          z
            .string()
            .regex(
              ORIGIN,
              "must be an exact origin such as https://app.example.com (scheme, host, optional port; no path, no *)",
            ),
        )
        .max(50),
    ),
);

export const SettingsEnv = /* @__PURE__ */ pure(() =>
  z.object({
    NEXUS_RATE_LIMIT_PER_MINUTE: optionalText(RateLimitSetting),
    NEXUS_DAILY_CAPS: optionalText(DailyCapsSetting),
    NEXUS_HEALTH: optionalText(HealthSetting),
    NEXUS_CORS_ORIGINS: optionalText(CorsOriginsSetting),
  }),
);
export type SettingsEnv = z.output<typeof SettingsEnv>;
