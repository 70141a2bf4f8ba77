//! The route table: every path of the HTTP API, which function serves it, and who may call it.
//! One table drives routing, 404/405 answers, each Lambda's share of the API, and the test that
//! keeps `infra/openapi.yaml` true.

use http::Method;

use super::ApiError;

/// The six Lambda functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Function {
    /// Validates credentials with the vendor and stores them.
    Connect,
    /// NinjaOne's OAuth redirect target.
    OauthCallback,
    /// Integration cards, configuration and picklists.
    Configure,
    /// Catalogs, mappings, the platform's plans and organizations, assets.
    Map,
    /// Sync runs, tickets, and (beyond HTTP) schedules, queue work and platform events.
    Sync,
    /// Revokes a connection.
    Revoke,
}

impl Function {
    /// The function's name, as its binary and package are called.
    pub fn name(self) -> &'static str {
        match self {
            Function::Connect => "connect",
            Function::OauthCallback => "oauth-callback",
            Function::Configure => "configure",
            Function::Map => "map",
            Function::Sync => "sync",
            Function::Revoke => "revoke",
        }
    }

    /// Every function.
    pub const ALL: [Function; 6] = [
        Function::Connect,
        Function::OauthCallback,
        Function::Configure,
        Function::Map,
        Function::Sync,
        Function::Revoke,
    ];
}

/// Which routes a server answers: one function's (a Lambda) or all of them (the local runner).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every route.
    All,
    /// One function's routes.
    Only(Function),
}

impl Scope {
    fn covers(self, function: Function) -> bool {
        match self {
            Scope::All => true,
            Scope::Only(f) => f == function,
        }
    }
}

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone (the OAuth callback, the API document).
    Public,
    /// Any signed-in user of the partner.
    Member,
    /// The partner's admin.
    Admin,
}

/// What a route does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    ListIntegrations,
    Connect,
    OauthCallback,
    GetConfiguration,
    PutConfiguration,
    DeleteConfiguration,
    Options,
    Catalog,
    ListPlanMappings,
    PutPlanMapping,
    DeletePlanMapping,
    ListOrgMappings,
    PutOrgMapping,
    DeleteOrgMapping,
    AutoMatch,
    ListPlans,
    GetPlan,
    PutPlan,
    ListOrganizations,
    GetOrganization,
    PutOrganization,
    ListAssets,
    StartSync,
    ListSyncRuns,
    GetSyncRun,
    RaiseTicket,
    RaiseOpportunity,
    Revoke,
    ListAudit,
    ListImports,
    OpenApi,
}

/// One route.
#[derive(Clone, Debug)]
pub struct Route {
    /// HTTP method.
    pub method: Method,
    /// Path template; `{name}` segments capture.
    pub path: &'static str,
    /// The Lambda that serves it.
    pub function: Function,
    /// Who may call it.
    pub access: Access,
    /// What it does.
    pub op: Op,
}

macro_rules! routes {
    ($($method:ident $path:literal => $function:ident, $access:ident, $op:ident;)*) => {
        /// Every route of the API.
        pub const ROUTES: &[Route] = &[$(Route {
            method: Method::$method,
            path: $path,
            function: Function::$function,
            access: Access::$access,
            op: Op::$op,
        }),*];
    };
}

routes! {
    GET    "/v1/integrations"                                        => Configure, Member, ListIntegrations;
    POST   "/v1/integrations/{provider}/connect"                     => Connect, Admin, Connect;
    GET    "/v1/oauth/{provider}/callback"                           => OauthCallback, Public, OauthCallback;
    GET    "/v1/integrations/{provider}/configuration"               => Configure, Member, GetConfiguration;
    PUT    "/v1/integrations/{provider}/configuration"               => Configure, Admin, PutConfiguration;
    DELETE "/v1/integrations/{provider}/configuration"               => Configure, Admin, DeleteConfiguration;
    GET    "/v1/integrations/{provider}/options/{list}"              => Configure, Member, Options;
    GET    "/v1/integrations/{provider}/catalog/{kind}"              => Map, Member, Catalog;
    GET    "/v1/integrations/{provider}/plan-mappings"               => Map, Member, ListPlanMappings;
    PUT    "/v1/integrations/{provider}/plan-mappings/{plan_id}"     => Map, Admin, PutPlanMapping;
    DELETE "/v1/integrations/{provider}/plan-mappings/{plan_id}"     => Map, Admin, DeletePlanMapping;
    GET    "/v1/integrations/{provider}/org-mappings"                => Map, Member, ListOrgMappings;
    POST   "/v1/integrations/{provider}/org-mappings/auto-match"     => Map, Admin, AutoMatch;
    PUT    "/v1/integrations/{provider}/org-mappings/{org_id}"       => Map, Admin, PutOrgMapping;
    DELETE "/v1/integrations/{provider}/org-mappings/{org_id}"       => Map, Admin, DeleteOrgMapping;
    GET    "/v1/plans"                                               => Map, Member, ListPlans;
    GET    "/v1/plans/{plan_id}"                                     => Map, Member, GetPlan;
    PUT    "/v1/plans/{plan_id}"                                     => Map, Admin, PutPlan;
    GET    "/v1/organizations"                                       => Map, Member, ListOrganizations;
    GET    "/v1/organizations/{org_id}"                              => Map, Member, GetOrganization;
    PUT    "/v1/organizations/{org_id}"                              => Map, Admin, PutOrganization;
    GET    "/v1/organizations/{org_id}/assets"                       => Map, Member, ListAssets;
    GET    "/v1/integrations/{provider}/imports/{kind}"              => Map, Member, ListImports;
    POST   "/v1/integrations/{provider}/sync"                        => Sync, Admin, StartSync;
    GET    "/v1/integrations/{provider}/sync-runs"                   => Sync, Member, ListSyncRuns;
    GET    "/v1/integrations/{provider}/sync-runs/{run_id}"          => Sync, Member, GetSyncRun;
    POST   "/v1/integrations/{provider}/tickets"                     => Sync, Admin, RaiseTicket;
    POST   "/v1/integrations/{provider}/opportunities"               => Sync, Admin, RaiseOpportunity;
    DELETE "/v1/integrations/{provider}"                             => Revoke, Admin, Revoke;
    GET    "/v1/audit"                                               => Configure, Member, ListAudit;
    GET    "/v1/openapi.json"                                        => Configure, Public, OpenApi;
}

/// Values captured from `{name}` segments, in order.
#[derive(Clone, Debug, Default)]
pub struct Params(Vec<(&'static str, String)>);

impl Params {
    /// The captured value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn match_path(template: &'static str, path: &str) -> Option<Params> {
    let mut params = Vec::new();
    let mut template_parts = template.split('/');
    let mut path_parts = path.split('/');
    loop {
        match (template_parts.next(), path_parts.next()) {
            (None, None) => return Some(Params(params)),
            (Some(t), Some(p)) => {
                if let Some(name) = t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                    if p.is_empty() {
                        return None;
                    }
                    // Captures are percent-decoded: `plan:1` arrives as `plan%3A1`.
                    let value = percent_encoding::percent_decode_str(p)
                        .decode_utf8()
                        .map_or_else(|_| p.to_owned(), |v| v.into_owned());
                    params.push((name, value));
                } else if t != p {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

/// Finds the route for `method` and `path` within `scope`: 404 when no route has the path,
/// 405 (with the allowed methods) when only other methods do. Literal segments win over
/// captures, so `org-mappings/auto-match` is never read as an organization id.
pub fn find(
    scope: Scope,
    method: &Method,
    path: &str,
) -> Result<(&'static Route, Params), ApiError> {
    let mut allow = Vec::new();
    let mut best: Option<(&'static Route, Params)> = None;
    for route in ROUTES.iter().filter(|r| scope.covers(r.function)) {
        let Some(params) = match_path(route.path, path) else {
            continue;
        };
        if route.method != *method {
            allow.push(route.method.clone());
            continue;
        }
        let better = best
            .as_ref()
            .is_none_or(|(_, b)| params.0.len() < b.0.len());
        if better {
            best = Some((route, params));
        }
    }
    match best {
        Some(found) => Ok(found),
        None if !allow.is_empty() => Err(ApiError::MethodNotAllowed {
            method: method.clone(),
            allow,
        }),
        None => Err(ApiError::NotFound(format!("no route for {path}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_and_prefers_literals() {
        let (route, params) = find(
            Scope::All,
            &Method::POST,
            "/v1/integrations/ninjaone/org-mappings/auto-match",
        )
        .unwrap();
        assert_eq!(route.op, Op::AutoMatch);
        assert_eq!(params.get("provider"), Some("ninjaone"));

        let (route, params) = find(
            Scope::All,
            &Method::PUT,
            "/v1/integrations/halopsa/org-mappings/acme",
        )
        .unwrap();
        assert_eq!(route.op, Op::PutOrgMapping);
        assert_eq!(params.get("org_id"), Some("acme"));

        let (_, params) = find(Scope::All, &Method::PUT, "/v1/plans/Jt%3AP").unwrap();
        assert_eq!(params.get("plan_id"), Some("Jt:P"));
    }

    #[test]
    fn wrong_method_lists_the_allowed_ones() {
        match find(Scope::All, &Method::POST, "/v1/plans/gold") {
            Err(ApiError::MethodNotAllowed { allow, .. }) => {
                assert_eq!(allow, vec![Method::GET, Method::PUT]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn each_function_sees_only_its_routes() {
        assert!(find(Scope::Only(Function::Connect), &Method::GET, "/v1/plans").is_err());
        assert!(find(Scope::Only(Function::Map), &Method::GET, "/v1/plans").is_ok());
        assert!(find(Scope::All, &Method::GET, "/v1/plans/").is_err());
        assert!(find(Scope::All, &Method::GET, "/v1/nope").is_err());
        for f in Function::ALL {
            assert!(ROUTES.iter().any(|r| r.function == f), "{f:?} has routes");
        }
    }
}
