// What the portal does with the API, typed by the types openapi-typescript generates from
// infra/openapi.yaml: connect Autotask, read the options, save a configuration, map an
// organization, start a sync and read the run; then seed 004's defaults, the seven imports,
// the imported tickets and an opportunity; then ConnectWise PSA: connect, a board's lists,
// the ticket defaults, a plan and an organization linked, a ticket for an alert.
// `tsc --noEmit` must accept it unchanged.
import type { components, paths } from "./api";

type Problem = components["schemas"]["Problem"];
type Cards = paths["/v1/integrations"]["get"]["responses"]["200"]["content"]["application/json"];
type ConnectForm =
  paths["/v1/integrations/autotask/connect"]["post"]["requestBody"]["content"]["application/json"];
type Connected =
  paths["/v1/integrations/autotask/connect"]["post"]["responses"]["201"]["content"]["application/json"];
type Options =
  paths["/v1/integrations/autotask/options/queues"]["get"]["responses"]["200"]["content"]["application/json"];
type SettingsForm =
  paths["/v1/integrations/autotask/configuration"]["put"]["requestBody"]["content"]["application/json"];
type OrgLink =
  paths["/v1/integrations/autotask/org-mappings/{org_id}"]["put"]["requestBody"]["content"]["application/json"];
type SyncForm = NonNullable<
  paths["/v1/integrations/autotask/sync"]["post"]["requestBody"]
>["content"]["application/json"];
type Run =
  paths["/v1/integrations/autotask/sync-runs/{run_id}"]["get"]["responses"]["200"]["content"]["application/json"];
type Owners =
  paths["/v1/integrations/autotask/options/resources"]["get"]["responses"]["200"]["content"]["application/json"];
type ImportedTickets =
  paths["/v1/integrations/autotask/imports/tickets"]["get"]["responses"]["200"]["content"]["application/json"];
type OpportunityForm =
  paths["/v1/integrations/autotask/opportunities"]["post"]["requestBody"]["content"]["application/json"];
type OpportunityAnswer =
  paths["/v1/integrations/autotask/opportunities"]["post"]["responses"]["201"]["content"]["application/json"];
type CwConnectForm =
  paths["/v1/integrations/connectwise/connect"]["post"]["requestBody"]["content"]["application/json"];
type CwOptions =
  paths["/v1/integrations/connectwise/options/statuses"]["get"]["responses"]["200"]["content"]["application/json"];
type CwSettingsForm =
  paths["/v1/integrations/connectwise/configuration"]["put"]["requestBody"]["content"]["application/json"];
type CwCatalog =
  paths["/v1/integrations/connectwise/catalog/additions"]["get"]["responses"]["200"]["content"]["application/json"];
type CwPlanLink =
  paths["/v1/integrations/connectwise/plan-mappings/{plan_id}"]["put"]["requestBody"]["content"]["application/json"];
type CwOrgLink =
  paths["/v1/integrations/connectwise/org-mappings/{org_id}"]["put"]["requestBody"]["content"]["application/json"];
type AlertForm =
  paths["/v1/integrations/connectwise/tickets"]["post"]["requestBody"]["content"]["application/json"];
type TicketAnswer =
  paths["/v1/integrations/connectwise/tickets"]["post"]["responses"]["201"]["content"]["application/json"];

/** A call's answer: the body on success, the problem otherwise. */
type Answer<T> = { ok: true; status: number; body: T } | { ok: false; status: number; problem: Problem };

const API = "https://integrations-api.platform.example";

/** The one place JSON meets the types (a generated client does the same). */
async function call<T>(
  method: "GET" | "PUT" | "POST" | "DELETE",
  path: string,
  token: string,
  body?: unknown,
  idempotencyKey?: string,
): Promise<Answer<T>> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (idempotencyKey !== undefined) headers["idempotency-key"] = idempotencyKey;
  const response = await fetch(API + path, {
    method,
    headers,
    body: body === undefined ? null : JSON.stringify(body),
  });
  const json: unknown = response.status === 204 ? null : await response.json();
  return response.ok
    ? { ok: true, status: response.status, body: json as T }
    : { ok: false, status: response.status, problem: json as Problem };
}

/** Shows a problem's field errors next to their fields, or its detail. */
function show(problem: Problem, fieldError: (field: string, message: string) => void): string {
  for (const error of problem.errors ?? []) {
    fieldError(error.field, error.message);
  }
  return problem.request_id === undefined ? problem.detail : `${problem.detail} (${problem.request_id})`;
}

export async function setUpAutotask(
  token: string,
  fieldError: (field: string, message: string) => void,
): Promise<string> {
  const form: ConnectForm = { username: "api-user@msp.example", secret: "from-the-connect-form" };
  const connected = await call<Connected>(
    "POST",
    "/v1/integrations/autotask/connect",
    token,
    form,
    crypto.randomUUID(),
  );
  if (!connected.ok) return show(connected.problem, fieldError);

  const cards = await call<Cards>("GET", "/v1/integrations", token);
  if (!cards.ok) return show(cards.problem, fieldError);
  const card = cards.body.integrations.find((c) => c.provider === "autotask");
  if (card?.status !== "connected") return `Autotask is ${card?.status ?? "missing"}`;

  const queues = await call<Options>("GET", "/v1/integrations/autotask/options/queues", token);
  if (!queues.ok) return show(queues.problem, fieldError);
  const queue = queues.body.items.find((q) => q.is_default) ?? queues.body.items[0];
  if (queue === undefined) return "Autotask has no queues";
  const settings: SettingsForm = {
    sync_seat_quantity: true,
    ticket_type: 5,
    sla: 1,
    priority: 1,
    queue: queue.id,
    status: 1,
  };
  const saved = await call("PUT", "/v1/integrations/autotask/configuration", token, settings);
  if (!saved.ok) return show(saved.problem, fieldError);

  const link: OrgLink = { company_id: 1004, contract_id: 1005, contract_service_id: 1006 };
  const linked = await call("PUT", "/v1/integrations/autotask/org-mappings/acme", token, link);
  if (!linked.ok) return show(linked.problem, fieldError);

  const sync: SyncForm = { kinds: ["seats"] };
  const started = await call<Run>("POST", "/v1/integrations/autotask/sync", token, sync, crypto.randomUUID());
  if (!started.ok) return show(started.problem, fieldError);
  const run = await call<Run>("GET", `/v1/integrations/autotask/sync-runs/${started.body.id}`, token);
  if (!run.ok) return show(run.problem, fieldError);
  const { changed, unchanged, failed } = run.body.counts;
  return `${run.body.status}: ${changed} changed, ${unchanged} unchanged, ${failed} failed`;
}

export async function importAndRaiseOpportunity(
  token: string,
  fieldError: (field: string, message: string) => void,
): Promise<string> {
  const owners = await call<Owners>("GET", "/v1/integrations/autotask/options/resources", token);
  if (!owners.ok) return show(owners.problem, fieldError);
  const owner = owners.body.items[0];
  if (owner === undefined) return "Autotask has no resource who may own opportunities";
  const defaults: SettingsForm = {
    opportunity_owner: owner.id,
    opportunity_stage: 29682770,
    customer_types: [1],
    asset_types: [1, 2],
    ticket_history_days: 30,
    primary_asset_source: "autotask",
    scheduled_imports: ["customers", "tickets"],
  };
  const saved = await call("PUT", "/v1/integrations/autotask/configuration", token, defaults);
  if (!saved.ok) return show(saved.problem, fieldError);

  const all: SyncForm = {
    kinds: ["customers", "contacts", "locations", "assets", "tickets", "opportunities", "agreements"],
  };
  const started = await call<Run>("POST", "/v1/integrations/autotask/sync", token, all, crypto.randomUUID());
  if (!started.ok) return show(started.problem, fieldError);
  const tickets = await call<ImportedTickets>("GET", "/v1/integrations/autotask/imports/tickets?org_id=acme", token);
  if (!tickets.ok) return show(tickets.problem, fieldError);
  const open = tickets.body.items.filter((t) => t.active).map((t) => String(t.fields["statusLabel"]));

  const opportunity: OpportunityForm = {
    org_id: "acme",
    dedupe_key: "firewall-refresh:acme",
    title: "Firewall refresh",
    amount: 12000,
    projected_close_date: "2027-01-15",
  };
  const raised = await call<OpportunityAnswer>(
    "POST",
    "/v1/integrations/autotask/opportunities",
    token,
    opportunity,
    crypto.randomUUID(),
  );
  if (!raised.ok) return show(raised.problem, fieldError);
  return `${open.length} open tickets (${open.join(", ")}); opportunity ${raised.body.opportunity_id} ${raised.body.action}`;
}

export async function setUpConnectwise(
  token: string,
  fieldError: (field: string, message: string) => void,
): Promise<string> {
  const form: CwConnectForm = {
    site: "na.myconnectwise.net",
    company_id: "yourcompany",
    public_key: "from-the-api-member",
    private_key: "from-the-api-member",
  };
  const connected = await call<Connected>(
    "POST",
    "/v1/integrations/connectwise/connect",
    token,
    form,
    crypto.randomUUID(),
  );
  if (!connected.ok) return show(connected.problem, fieldError);

  const boards = await call<CwOptions>("GET", "/v1/integrations/connectwise/options/boards", token);
  if (!boards.ok) return show(boards.problem, fieldError);
  const board = boards.body.items[0];
  if (board === undefined) return "ConnectWise has no service board";
  const statuses = await call<CwOptions>(
    "GET",
    `/v1/integrations/connectwise/options/statuses?parent=${board.id}`,
    token,
  );
  if (!statuses.ok) return show(statuses.problem, fieldError);
  const status = statuses.body.items.find((s) => s.is_default) ?? statuses.body.items[0];
  if (status === undefined) return `board ${board.label} has no open status`;
  const settings: CwSettingsForm = {
    sync_seat_quantity: true,
    board_id: board.id,
    status_id: status.id,
    priority_id: 3,
  };
  const saved = await call("PUT", "/v1/integrations/connectwise/configuration", token, settings);
  if (!saved.ok) return show(saved.problem, fieldError);

  const additions = await call<CwCatalog>(
    "GET",
    "/v1/integrations/connectwise/catalog/additions?agreement_id=1008",
    token,
  );
  if (!additions.ok) return show(additions.problem, fieldError);
  const addition = additions.body.items.find((a) => a.active);
  if (addition?.service_id === undefined) return "the agreement has no active addition";
  const plan: CwPlanLink = { product_id: addition.service_id };
  const planned = await call("PUT", "/v1/integrations/connectwise/plan-mappings/backup", token, plan);
  if (!planned.ok) return show(planned.problem, fieldError);
  const link: CwOrgLink = { company_id: 1004, agreement_id: 1008, addition_id: addition.id };
  const linked = await call("PUT", "/v1/integrations/connectwise/org-mappings/acme", token, link);
  if (!linked.ok) return show(linked.problem, fieldError);

  const alert: AlertForm = {
    org_id: "acme",
    dedupe_key: "backup-failed:acme",
    title: "Backup failed",
    description: "3 mailboxes failed twice",
  };
  const ticket = await call<TicketAnswer>(
    "POST",
    "/v1/integrations/connectwise/tickets",
    token,
    alert,
    crypto.randomUUID(),
  );
  if (!ticket.ok) return show(ticket.problem, fieldError);
  return `ticket ${ticket.body.ticket_id} ${ticket.body.action}`;
}
