import type * as Keys from "@nexus/core/keys";

type Role = Keys.Role;

/**
 * Who may call what: every route and the roles allowed on it. `agent` keys are further limited to their
 * own agent's objects (checked in the handlers). The README's route × role table and the matrix test are
 * built from this one table.
 */
export const ACCESS = {
  "GET /v1/health": "public",
  "GET /v1/me": ["admin", "operator", "viewer", "agent"],
  "GET /v1/events": ["admin", "operator", "viewer"],
  "GET /v1/events/stream": ["admin", "operator", "viewer"],
  "POST /v1/agents": ["admin", "operator"],
  "GET /v1/agents": ["admin", "operator", "viewer"],
  "GET /v1/agents/{id}": ["admin", "operator", "viewer", "agent"],
  "POST /v1/agents/{id}/deactivate": ["admin", "operator"],
  "POST /v1/agents/{id}/reactivate": ["admin", "operator"],
  "DELETE /v1/agents/{id}": ["admin", "operator"],
  "POST /v1/agents/{id}/heartbeat": ["admin", "agent"],
  "POST /v1/tasks": ["admin", "operator"],
  "POST /v1/tasks/batch": ["admin", "operator"],
  "GET /v1/tasks": ["admin", "operator", "viewer", "agent"],
  "GET /v1/tasks/{id}": ["admin", "operator", "viewer", "agent"],
  "GET /v1/tasks/{id}/params": ["admin", "operator", "viewer", "agent"],
  "GET /v1/tasks/{id}/result": ["admin", "operator", "viewer", "agent"],
  "GET /v1/tasks/{id}/logs": ["admin", "operator", "viewer", "agent"],
  "POST /v1/tasks/{id}/cancel": ["admin", "operator"],
  "POST /v1/agents/{id}/tasks/claim": ["admin", "agent"],
  "POST /v1/tasks/{id}/complete": ["admin", "agent"],
  "POST /v1/tasks/{id}/fail": ["admin", "agent"],
  "POST /v1/tasks/{id}/extend": ["admin", "agent"],
  "POST /v1/plans": ["admin", "operator"],
  "GET /v1/plans": ["admin", "operator", "viewer"],
  "GET /v1/plans/{id}": ["admin", "operator", "viewer"],
  "POST /v1/plans/{id}/cancel": ["admin", "operator"],
  "POST /v1/plans/{id}/retry": ["admin", "operator"],
  "POST /v1/plans/{id}/steps/{stepId}/approve": ["admin", "operator"],
  "POST /v1/plans/{id}/steps/{stepId}/reject": ["admin", "operator"],
  "POST /v1/schedules": ["admin", "operator"],
  "GET /v1/schedules": ["admin", "operator", "viewer"],
  "POST /v1/schedules/preview": ["admin", "operator", "viewer"],
  "GET /v1/schedules/{id}": ["admin", "operator", "viewer"],
  "PATCH /v1/schedules/{id}": ["admin", "operator"],
  "DELETE /v1/schedules/{id}": ["admin", "operator"],
  "POST /v1/schedules/{id}/run-now": ["admin", "operator"],
  "GET /v1/failures": ["admin", "operator", "viewer"],
  "GET /v1/failures/{id}": ["admin", "operator", "viewer"],
  "POST /v1/failures/{id}/redrive": ["admin", "operator"],
  "POST /v1/failures/redrive": ["admin", "operator"],
  "POST /v1/keys": ["admin"],
  "GET /v1/keys": ["admin"],
  "GET /v1/keys/{id}": ["admin"],
  "DELETE /v1/keys/{id}": ["admin"],
  "GET /v1/audit": ["admin"],
  "GET /v1/alarms": ["admin", "operator", "viewer"],
  "GET /v1/backup/export": ["admin"],
  "POST /v1/backup/import": ["admin"],
} as const satisfies Record<string, "public" | readonly Role[]>;

export type RouteKey = keyof typeof ACCESS;

export function allowed(route: RouteKey, role: Role): boolean {
  const rule = ACCESS[route];
  return rule === "public" || (rule as readonly Role[]).includes(role);
}
