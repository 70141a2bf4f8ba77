//! One contract suite, run against both storage back ends: SQLite (embedded) and DynamoDB +
//! Secrets Manager (on moto). Each check is one test per back end, so the output shows both.

use integration_tests::Backend;
use secrecy::{ExposeSecret, SecretString};
use shared::{
    domain::{
        Asset, AssetFields, AutotaskSettings, CONSENT_TTL, ChunkPlace, Connection,
        ConnectionStatus, HaloSettings, IdempotencyRecord, ImportFilter, ImportKind, ImportResume,
        ImportState, ImportedRecord, NewCustomer, NinjaRegion, OrgId, OrgMapping, OrgTarget,
        Organization, PendingConsent, Plan, PlanId, PlanMapping, PlanTarget, Provider,
        ProviderSettings, StoredResponse, SyncCounts, SyncKind, SyncRun, SyncStatus, SyncTrigger,
        TenantId, TicketRecord, VendorInstance, state_hash,
    },
    ports::{Cursor, Expect, LeaseKind, SecretName, StoreError},
};
use time::Duration;
use ulid::Ulid;

fn tenant(id: &str) -> TenantId {
    TenantId::new(id).unwrap()
}

fn connection(b: &Backend, provider: Provider, status: ConnectionStatus) -> Connection {
    let instance = match provider {
        Provider::Autotask => VendorInstance::Autotask {
            zone_url: "https://webservices5.autotask.net/ATServicesRest/".into(),
            web_url: "https://ww5.autotask.net/".into(),
            database_id: 29_683_121,
        },
        Provider::Halopsa => VendorInstance::Halopsa {
            site_url: "https://acme.halopsa.com".into(),
            tenant: None,
            auth_url: "https://acme.halopsa.com/auth".into(),
        },
        Provider::Ninjaone => VendorInstance::Ninjaone {
            region: NinjaRegion::Eu,
        },
        Provider::Connectwise => VendorInstance::Connectwise {
            site: "https://api-na.myconnectwise.net".into(),
            company_id: "acme_msp".into(),
            codebase: "v2025_1/".into(),
        },
    };
    let now = shared::ports::Clock::now(&*b.clock);
    Connection {
        status,
        instance,
        secret_name: format!("{}/x/{provider}", b.prefix),
        connected_at: now,
        updated_at: now,
        last_error: None,
        version: 0,
    }
}

fn org(b: &Backend, id: &str, seats: u32) -> Organization {
    Organization {
        id: OrgId::new(id).unwrap(),
        name: format!("Org {id}"),
        plan_id: None,
        seats,
        updated_at: shared::ports::Clock::now(&*b.clock),
    }
}

fn org_mapping(b: &Backend, id: &str, target: OrgTarget) -> OrgMapping {
    OrgMapping {
        org_id: OrgId::new(id).unwrap(),
        target,
        updated_at: shared::ports::Clock::now(&*b.clock),
        version: 0,
    }
}

fn run(b: &Backend, provider: Provider, ms: u64, expires_in: Duration) -> SyncRun {
    let now = shared::ports::Clock::now(&*b.clock);
    SyncRun {
        id: Ulid::from_parts(1_800_000_000_000 + ms, 7),
        provider,
        kinds: vec![SyncKind::Seats],
        trigger: SyncTrigger::Manual,
        status: SyncStatus::Queued,
        kinds_done: Vec::new(),
        continued: 0,
        counts: SyncCounts::default(),
        by_kind: Default::default(),
        errors: vec![],
        created_at: now,
        started_at: None,
        finished_at: None,
        expires_at: now + expires_in,
        version: 0,
    }
}

fn is_conflict<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Conflict(_)))
}

mod checks {
    use super::*;

    pub async fn connection_round_trip(b: Backend) {
        let t = tenant("acme");
        assert_eq!(
            b.store
                .get_connection(&t, Provider::Autotask)
                .await
                .unwrap(),
            None
        );
        let c = connection(&b, Provider::Autotask, ConnectionStatus::Connected);
        let stored = b
            .store
            .put_connection(&t, &c, Expect::Absent)
            .await
            .unwrap();
        assert_eq!(stored.version, 1);
        assert_eq!(
            b.store
                .get_connection(&t, Provider::Autotask)
                .await
                .unwrap(),
            Some(stored.clone())
        );
        assert!(
            is_conflict(b.store.put_connection(&t, &c, Expect::Absent).await),
            "create-if-absent refuses a second create"
        );
        let updated = Connection {
            status: ConnectionStatus::NeedsReconnect,
            last_error: Some("invalid_grant".into()),
            ..stored.clone()
        };
        let updated = b
            .store
            .put_connection(&t, &updated, Expect::Version(1))
            .await
            .unwrap();
        assert_eq!(updated.version, 2);
        assert!(
            is_conflict(
                b.store
                    .put_connection(&t, &stored, Expect::Version(1))
                    .await
            ),
            "a stale version is refused"
        );
        assert_eq!(b.store.list_connections(&t).await.unwrap(), vec![updated]);
        b.store
            .delete_connection(&t, Provider::Autotask)
            .await
            .unwrap();
        b.store
            .delete_connection(&t, Provider::Autotask)
            .await
            .unwrap();
        assert_eq!(
            b.store
                .get_connection(&t, Provider::Autotask)
                .await
                .unwrap(),
            None
        );
    }

    pub async fn configuration_versions(b: Backend) {
        let t = tenant("acme");
        let settings = ProviderSettings::Autotask(AutotaskSettings {
            sync_seat_quantity: true,
            queue: Some(29_682_833),
            ..Default::default()
        });
        let first = b
            .store
            .put_configuration(&t, &settings, Expect::Absent)
            .await
            .unwrap();
        assert_eq!(first.version, 1);
        let read = b
            .store
            .get_configuration(&t, Provider::Autotask)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read, first);
        let changed = ProviderSettings::Autotask(AutotaskSettings {
            sync_seat_quantity: false,
            ..Default::default()
        });
        let second = b
            .store
            .put_configuration(&t, &changed, Expect::Version(1))
            .await
            .unwrap();
        assert_eq!(second.version, 2);
        assert!(is_conflict(
            b.store
                .put_configuration(&t, &settings, Expect::Version(1))
                .await
        ));
        assert_eq!(
            b.store
                .get_configuration(&t, Provider::Autotask)
                .await
                .unwrap()
                .unwrap()
                .settings,
            changed,
            "the refused write changed nothing"
        );
        b.store
            .delete_configuration(&t, Provider::Autotask)
            .await
            .unwrap();
        assert!(
            b.store
                .get_configuration(&t, Provider::Autotask)
                .await
                .unwrap()
                .is_none()
        );
    }

    pub async fn platform_round_trip_and_paging(b: Backend) {
        let t = tenant("acme");
        let plan = Plan {
            id: PlanId::new("pro").unwrap(),
            name: "Pro".into(),
            updated_at: shared::ports::Clock::now(&*b.clock),
        };
        b.store.put_plan(&t, &plan).await.unwrap();
        assert_eq!(
            b.store.get_plan(&t, &plan.id).await.unwrap(),
            Some(plan.clone())
        );
        let page = b.store.list_plans(&t, None, 10).await.unwrap();
        assert_eq!((page.items, page.next), (vec![plan], None));

        for i in 0..7 {
            let mut o = org(&b, &format!("org-{i}"), i);
            o.plan_id = Some(PlanId::new("pro").unwrap());
            b.store.put_organization(&t, &o).await.unwrap();
        }
        let mut seen = Vec::new();
        let mut after: Option<Cursor> = None;
        let mut pages = 0;
        loop {
            let page = b
                .store
                .list_organizations(&t, after.as_ref(), 3)
                .await
                .unwrap();
            assert!(page.items.len() <= 3);
            seen.extend(page.items.into_iter().map(|o| o.id.to_string()));
            pages += 1;
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
            assert!(pages < 10, "paging terminates");
        }
        let expected: Vec<String> = (0..7).map(|i| format!("org-{i}")).collect();
        assert_eq!(
            seen, expected,
            "every organization exactly once, in key order"
        );
        let one = b
            .store
            .get_organization(&t, &OrgId::new("org-3").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(one.seats, 3);
        assert_eq!(one.plan_id.unwrap().as_str(), "pro");
    }

    pub async fn mappings_are_one_item_each(b: Backend) {
        let t = tenant("acme");
        let target = |company| OrgTarget::Autotask {
            company_id: company,
            contract_id: Some(10),
            contract_service_id: Some(100),
        };
        let a = b
            .store
            .put_org_mapping(&t, &org_mapping(&b, "a", target(1)), Expect::Absent)
            .await
            .unwrap();
        b.store
            .put_org_mapping(&t, &org_mapping(&b, "b", target(2)), Expect::Absent)
            .await
            .unwrap();
        b.store
            .put_org_mapping(
                &t,
                &org_mapping(
                    &b,
                    "a",
                    OrgTarget::Halopsa {
                        customer_id: 5,
                        licence_id: 6,
                    },
                ),
                Expect::Absent,
            )
            .await
            .unwrap();
        assert_eq!(
            b.store
                .list_org_mappings(&t, Provider::Autotask)
                .await
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            b.store
                .list_org_mappings(&t, Provider::Halopsa)
                .await
                .unwrap()
                .len(),
            1
        );

        let moved = OrgMapping {
            target: target(9),
            ..a.clone()
        };
        let moved = b
            .store
            .put_org_mapping(&t, &moved, Expect::Version(1))
            .await
            .unwrap();
        assert_eq!(moved.version, 2);
        assert!(is_conflict(
            b.store.put_org_mapping(&t, &a, Expect::Version(1)).await
        ));

        b.store
            .delete_org_mapping(&t, Provider::Autotask, &OrgId::new("b").unwrap())
            .await
            .unwrap();
        let left = b
            .store
            .list_org_mappings(&t, Provider::Autotask)
            .await
            .unwrap();
        assert_eq!(left, vec![moved], "unlinking one leaves the others");

        let plan = PlanMapping {
            plan_id: PlanId::new("pro").unwrap(),
            target: PlanTarget::Autotask { service_id: 42 },
            updated_at: shared::ports::Clock::now(&*b.clock),
            version: 0,
        };
        let stored = b
            .store
            .put_plan_mapping(&t, &plan, Expect::Any)
            .await
            .unwrap();
        assert_eq!(stored.version, 1);
        let again = b
            .store
            .put_plan_mapping(&t, &plan, Expect::Any)
            .await
            .unwrap();
        assert_eq!(
            again.version, 2,
            "unconditional writes still move the version"
        );
        assert_eq!(
            b.store
                .get_plan_mapping(&t, Provider::Autotask, &plan.plan_id)
                .await
                .unwrap(),
            Some(again)
        );
        b.store
            .delete_plan_mapping(&t, Provider::Autotask, &plan.plan_id)
            .await
            .unwrap();
        assert!(
            b.store
                .list_plan_mappings(&t, Provider::Autotask)
                .await
                .unwrap()
                .is_empty()
        );
    }

    pub async fn runs_list_newest_first_and_expire(b: Backend) {
        let t = tenant("acme");
        let hour = Duration::hours(1);
        let old = b
            .store
            .put_run(
                &t,
                &run(&b, Provider::Halopsa, 1, hour * 48),
                Expect::Absent,
            )
            .await
            .unwrap();
        let short = b
            .store
            .put_run(&t, &run(&b, Provider::Halopsa, 2, hour), Expect::Absent)
            .await
            .unwrap();
        let newest = b
            .store
            .put_run(
                &t,
                &run(&b, Provider::Halopsa, 3, hour * 48),
                Expect::Absent,
            )
            .await
            .unwrap();
        let ids = |runs: Vec<SyncRun>| runs.into_iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(
            ids(b.store.list_runs(&t, Provider::Halopsa, 10).await.unwrap()),
            vec![newest.id, short.id, old.id]
        );
        assert_eq!(
            ids(b.store.list_runs(&t, Provider::Halopsa, 1).await.unwrap()),
            vec![newest.id]
        );
        let running = SyncRun {
            status: SyncStatus::Running,
            counts: SyncCounts {
                total: 3,
                done: 1,
                ..Default::default()
            },
            ..newest.clone()
        };
        let running = b
            .store
            .put_run(&t, &running, Expect::Version(1))
            .await
            .unwrap();
        assert_eq!(
            b.store
                .get_run(&t, Provider::Halopsa, newest.id)
                .await
                .unwrap(),
            Some(running)
        );

        b.clock.advance(hour * 2);
        assert_eq!(
            b.store
                .get_run(&t, Provider::Halopsa, short.id)
                .await
                .unwrap(),
            None,
            "an expired run reads as gone"
        );
        assert_eq!(
            ids(b.store.list_runs(&t, Provider::Halopsa, 10).await.unwrap()),
            vec![newest.id, old.id],
            "an expired run does not list"
        );
    }

    pub async fn leases_exclude_until_expiry(b: Backend) {
        let t = tenant("acme");
        let ttl = Duration::seconds(60);
        let first = b
            .store
            .acquire_lease(&t, Provider::Autotask, LeaseKind::Run, ttl)
            .await
            .unwrap();
        assert!(
            is_conflict(
                b.store
                    .acquire_lease(&t, Provider::Autotask, LeaseKind::Run, ttl)
                    .await
            ),
            "a second holder is refused"
        );
        b.store
            .acquire_lease(&t, Provider::Halopsa, LeaseKind::Run, ttl)
            .await
            .expect("another connection's lease is independent");
        let renewed = b.store.renew_lease(&first, ttl).await.unwrap();
        b.clock.advance(Duration::seconds(45));
        assert!(
            is_conflict(
                b.store
                    .acquire_lease(&t, Provider::Autotask, LeaseKind::Run, ttl)
                    .await
            ),
            "renewal extended the lease"
        );
        b.clock.advance(Duration::seconds(16));
        let second = b
            .store
            .acquire_lease(&t, Provider::Autotask, LeaseKind::Run, ttl)
            .await
            .expect("an expired lease can be taken");
        assert!(
            is_conflict(b.store.renew_lease(&renewed, ttl).await),
            "the old holder cannot renew a lease it lost"
        );
        b.store.release_lease(&renewed).await.unwrap();
        assert!(
            is_conflict(
                b.store
                    .acquire_lease(&t, Provider::Autotask, LeaseKind::Run, ttl)
                    .await
            ),
            "the old holder's release did not free the new holder's lease"
        );
        b.store.release_lease(&second).await.unwrap();
        b.store
            .acquire_lease(&t, Provider::Autotask, LeaseKind::Run, ttl)
            .await
            .expect("a released lease can be taken at once");
    }

    pub async fn refresh_leases_are_apart_from_run_leases(b: Backend) {
        let t = tenant("acme");
        let ttl = Duration::seconds(30);
        let run = b
            .store
            .acquire_lease(&t, Provider::Ninjaone, LeaseKind::Run, ttl)
            .await
            .unwrap();
        let refresh = b
            .store
            .acquire_lease(&t, Provider::Ninjaone, LeaseKind::TokenRefresh, ttl)
            .await
            .expect("a running sync does not block a token refresh");
        assert!(is_conflict(
            b.store
                .acquire_lease(&t, Provider::Ninjaone, LeaseKind::TokenRefresh, ttl)
                .await
        ));
        b.store.release_lease(&refresh).await.unwrap();
        assert!(
            is_conflict(
                b.store
                    .acquire_lease(&t, Provider::Ninjaone, LeaseKind::Run, ttl)
                    .await
            ),
            "releasing the refresh lease left the run lease alone"
        );
        b.store.release_lease(&run).await.unwrap();
    }

    fn consent(b: &Backend, tenant_id: &str) -> PendingConsent {
        let now = shared::ports::Clock::now(&*b.clock);
        PendingConsent {
            tenant: tenant(tenant_id),
            provider: Provider::Ninjaone,
            region: NinjaRegion::Eu,
            code_verifier: "verifier-".repeat(5),
            created_at: now,
            expires_at: now + CONSENT_TTL,
            actor: Some("user-7".into()),
        }
    }

    pub async fn consents_are_taken_once_and_expire(b: Backend) {
        let hash = state_hash("state-1");
        b.store
            .put_consent(&hash, &consent(&b, "acme"))
            .await
            .unwrap();
        assert!(
            is_conflict(b.store.put_consent(&hash, &consent(&b, "other")).await),
            "a state is never reused"
        );
        let (first, second) =
            tokio::join!(b.store.take_consent(&hash), b.store.take_consent(&hash));
        let taken: Vec<PendingConsent> = [first.unwrap(), second.unwrap()]
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(taken.len(), 1, "of two concurrent takes, one gets it");
        assert_eq!(taken[0].tenant, tenant("acme"));
        assert_eq!(b.store.take_consent(&hash).await.unwrap(), None, "replayed");

        let late = state_hash("state-2");
        b.store
            .put_consent(&late, &consent(&b, "acme"))
            .await
            .unwrap();
        b.clock.advance(CONSENT_TTL + Duration::seconds(1));
        assert_eq!(b.store.take_consent(&late).await.unwrap(), None, "expired");
        assert_eq!(
            b.store.take_consent(&state_hash("never")).await.unwrap(),
            None
        );
    }

    pub async fn abandoned_consents_stay_listed_for_the_sweep(b: Backend) {
        let (a, bb, c) = (state_hash("a"), state_hash("b"), state_hash("c"));
        for hash in [&a, &bb] {
            b.store
                .put_consent(hash, &consent(&b, "acme"))
                .await
                .unwrap();
        }
        b.clock.advance(CONSENT_TTL + Duration::minutes(1));
        b.store
            .put_consent(&c, &consent(&b, "other"))
            .await
            .unwrap();
        let listed = |b: &Backend| {
            let store = b.store.clone();
            async move {
                let mut all = Vec::new();
                let mut after = None;
                loop {
                    let page = store.list_consents(after.as_ref(), 2).await.unwrap();
                    assert!(page.items.len() <= 2);
                    all.extend(page.items);
                    match page.next {
                        Some(next) => after = Some(next),
                        None => break,
                    }
                }
                all.sort_by(|x, y| x.0.cmp(&y.0));
                all
            }
        };
        let all = listed(&b).await;
        let mut expected = vec![a.clone(), bb.clone(), c.clone()];
        expected.sort();
        assert_eq!(
            all.iter().map(|(h, _)| h.clone()).collect::<Vec<_>>(),
            expected,
            "expired consents stay listed with their state hashes"
        );
        let now = shared::ports::Clock::now(&*b.clock);
        let expired: Vec<_> = all.iter().filter(|(_, p)| p.expires_at <= now).collect();
        assert_eq!(expired.len(), 2);
        assert!(expired.iter().all(|(_, p)| p.tenant == tenant("acme")));

        // Taking an expired consent gives nothing, and removes it.
        assert_eq!(b.store.take_consent(&a).await.unwrap(), None);
        let left: Vec<_> = listed(&b).await.into_iter().map(|(h, _)| h).collect();
        assert_eq!(left.len(), 2);
        assert!(!left.contains(&a));

        // A day past their expiry they are gone, swept or not.
        b.clock.advance(Duration::days(2));
        assert!(listed(&b).await.is_empty());
    }

    pub async fn assets_list_per_organization_and_go_with_revoke(b: Backend) {
        let t = tenant("acme");
        let now = shared::ports::Clock::now(&*b.clock);
        let asset = |org: &str, device: i64| Asset {
            source: Provider::Ninjaone,
            device_id: device,
            org_id: OrgId::new(org).unwrap(),
            organization_id: 7,
            fields: AssetFields {
                serial_number: Some(format!("SN{device}")),
                name: Some(format!("PC-{device}")),
                warranty_expire: None,
                details: String::new(),
                type_id: Some(101),
                storage: Some(1 << 40),
                location_name: None,
                manufacturer: None,
                model_number: None,
                os: Some("Windows 11 Pro".into()),
                purchase_date: None,
                processor_model: None,
                replace_date: None,
            },
            removed: false,
            updated_at: now,
        };
        for device in [3, 20, 100] {
            b.store.put_asset(&t, &asset("acme", device)).await.unwrap();
        }
        b.store.put_asset(&t, &asset("acme-2", 5)).await.unwrap();
        b.store
            .put_asset(&tenant("other"), &asset("acme", 9))
            .await
            .unwrap();
        let mut replaced = asset("acme", 20);
        replaced.removed = true;
        b.store.put_asset(&t, &replaced).await.unwrap();
        let listed = b
            .store
            .list_assets(&t, Provider::Ninjaone, &OrgId::new("acme").unwrap())
            .await
            .unwrap();
        assert_eq!(
            listed.iter().map(|a| a.device_id).collect::<Vec<_>>(),
            [3, 20, 100],
            "one organization's, by device id, not its prefix-sibling's or another tenant's"
        );
        assert!(listed[1].removed);
        assert_eq!(listed[0], asset("acme", 3));
        b.store
            .purge_provider(&t, Provider::Ninjaone)
            .await
            .unwrap();
        assert!(
            b.store
                .list_assets(&t, Provider::Ninjaone, &OrgId::new("acme").unwrap())
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            b.store
                .list_assets(
                    &tenant("other"),
                    Provider::Ninjaone,
                    &OrgId::new("acme").unwrap()
                )
                .await
                .unwrap()
                .len(),
            1
        );
    }

    pub async fn ticket_records_are_claimed_once_and_repeats_never_lost(b: Backend) {
        let t = tenant("acme");
        let p = Provider::Halopsa;
        let now = shared::ports::Clock::now(&*b.clock);
        let ttl = Duration::minutes(3);
        let first = TicketRecord::claimed_new("disk-full", "raise-a", now, ttl);
        let stored = b
            .store
            .put_ticket(&t, p, &first, Expect::Absent)
            .await
            .unwrap();
        assert!(matches!(
            b.store
                .put_ticket(
                    &t,
                    p,
                    &TicketRecord::claimed_new("disk-full", "raise-b", now, ttl),
                    Expect::Absent
                )
                .await,
            Err(StoreError::Conflict(_))
        ));
        let opened = b
            .store
            .put_ticket(
                &t,
                p,
                &stored.opened(42, now),
                Expect::Version(stored.version),
            )
            .await
            .unwrap();
        assert!(matches!(
            b.store
                .put_ticket(&t, p, &stored.released(), Expect::Version(stored.version))
                .await,
            Err(StoreError::Conflict(_))
        ));
        let read = b
            .store
            .get_ticket(&t, p, "disk-full")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (read.ticket_id, read.version, read.claim),
            (Some(42), opened.version, None)
        );

        // 40 concurrent counts, then a note that told 25 of them: 15 stay.
        assert_eq!(
            b.store.get_repeats(&t, p, "disk-full").await.unwrap().count,
            0
        );
        let counts = futures::future::join_all((0..40).map(|i| {
            b.store
                .count_repeat(&t, p, "disk-full", now + Duration::seconds(i))
        }))
        .await;
        assert!(counts.iter().all(Result::is_ok), "{counts:?}");
        let repeats = b.store.get_repeats(&t, p, "disk-full").await.unwrap();
        assert_eq!(repeats.count, 40);
        assert!(repeats.last_at.is_some());
        b.store
            .forget_repeats(&t, p, "disk-full", 25)
            .await
            .unwrap();
        assert_eq!(
            b.store.get_repeats(&t, p, "disk-full").await.unwrap().count,
            15
        );
        assert_eq!(
            b.store
                .get_repeats(&tenant("other"), p, "disk-full")
                .await
                .unwrap()
                .count,
            0,
            "another tenant's key of the same name counts apart"
        );
        b.store.purge_provider(&t, p).await.unwrap();
        assert_eq!(b.store.get_ticket(&t, p, "disk-full").await.unwrap(), None);
        assert_eq!(
            b.store.get_repeats(&t, p, "disk-full").await.unwrap().count,
            0,
            "revoke forgets the count"
        );
    }

    pub async fn idempotency_keys_are_created_once_per_tenant_and_expire(b: Backend) {
        let t = tenant("acme");
        let now = shared::ports::Clock::now(&*b.clock);
        let record = IdempotencyRecord {
            fingerprint: "f1".into(),
            response: None,
            in_flight_until: now + Duration::seconds(60),
            version: 0,
        };
        let expires = now + Duration::hours(24);
        let held = b
            .store
            .put_idempotency(&t, "k1", &record, Expect::Absent, expires)
            .await
            .unwrap();
        assert!(matches!(
            b.store
                .put_idempotency(&t, "k1", &record, Expect::Absent, expires)
                .await,
            Err(StoreError::Conflict(_))
        ));
        b.store
            .put_idempotency(&tenant("other"), "k1", &record, Expect::Absent, expires)
            .await
            .expect("another tenant's key of the same name is its own");
        let done = IdempotencyRecord {
            response: Some(StoredResponse {
                status: 201,
                headers: vec![("content-type".into(), "application/json".into())],
                body: "{}".into(),
            }),
            ..held.clone()
        };
        b.store
            .put_idempotency(&t, "k1", &done, Expect::Version(held.version), expires)
            .await
            .unwrap();
        let read = b.store.get_idempotency(&t, "k1").await.unwrap().unwrap();
        assert_eq!(read.response, done.response);
        b.clock.advance(Duration::hours(25));
        assert_eq!(b.store.get_idempotency(&t, "k1").await.unwrap(), None);
        b.store.delete_idempotency(&t, "k1").await.unwrap();
    }

    pub async fn imports_are_batched_per_kind_listed_by_company_and_go_with_revoke(b: Backend) {
        let t = tenant("acme");
        let p = Provider::Autotask;
        let now = shared::ports::Clock::now(&*b.clock);
        let record = |kind: ImportKind, company: i64, id: i64| ImportedRecord {
            kind,
            id,
            company_id: company,
            org_id: (company == 1004).then(|| OrgId::new("acme").unwrap()),
            active: id % 10 != 0,
            modified_at: Some(now),
            fields: serde_json::json!({"name": format!("record {id}")})
                .as_object()
                .unwrap()
                .clone(),
            imported_at: now,
        };
        // 60 contacts over three companies: more than one batch of 25, one write call.
        let contacts: Vec<ImportedRecord> = (1..=60)
            .map(|i| record(ImportKind::Contacts, 1003 + i % 3, 5000 + i))
            .collect();
        b.store.put_imported(&t, p, &contacts).await.unwrap();
        b.store
            .put_imported(&t, p, &[record(ImportKind::Customers, 1004, 1004)])
            .await
            .unwrap();
        let all = |filter: ImportFilter| {
            let store = b.store.clone();
            let t = t.clone();
            async move {
                let mut out = Vec::new();
                let mut after = None;
                loop {
                    let page = store
                        .list_imported(&t, p, ImportKind::Contacts, &filter, after.as_ref(), 7)
                        .await
                        .unwrap();
                    out.extend(page.items);
                    match page.next {
                        Some(next) => after = Some(next),
                        None => return out,
                    }
                }
            }
        };
        assert_eq!(all(ImportFilter::default()).await.len(), 60);
        let acme = all(ImportFilter {
            company_id: Some(1004),
            ..Default::default()
        })
        .await;
        assert_eq!(acme.len(), 20);
        assert!(
            acme.windows(2).all(|w| w[0].id < w[1].id),
            "by id within a company"
        );
        let linked = all(ImportFilter {
            company_id: Some(1004),
            active: Some(true),
        })
        .await;
        assert!(linked.iter().all(|r| r.company_id == 1004 && r.active));
        assert_eq!(linked.len(), 18);
        // Replacing a record is an upsert by id.
        let mut changed = contacts[0].clone();
        changed.active = false;
        b.store
            .put_imported(&t, p, &[changed.clone()])
            .await
            .unwrap();
        assert_eq!(all(ImportFilter::default()).await.len(), 60);
        // Removing records by company and id: the others stay, another tenant's too.
        b.store
            .put_imported(&tenant("other"), p, &contacts[..2])
            .await
            .unwrap();
        let gone: Vec<(i64, i64)> = contacts[..5].iter().map(|r| (r.company_id, r.id)).collect();
        b.store
            .delete_imported(&t, p, ImportKind::Contacts, &gone)
            .await
            .unwrap();
        let left = all(ImportFilter::default()).await;
        assert_eq!(left.len(), 55);
        assert!(left.iter().all(|r| !gone.contains(&(r.company_id, r.id))));
        b.store.put_imported(&t, p, &contacts[..5]).await.unwrap();
        b.store
            .delete_imported(&tenant("other"), p, ImportKind::Contacts, &gone)
            .await
            .unwrap();

        let state = b
            .store
            .get_import_state(&t, p, ImportKind::Contacts)
            .await
            .unwrap();
        assert_eq!(state, ImportState::default());
        let saved = b
            .store
            .put_import_state(
                &t,
                p,
                ImportKind::Contacts,
                &ImportState {
                    high_water: Some(now),
                    full_pass_at: Some(now),
                    last_pass_at: Some(now),
                    new_customers: vec![NewCustomer { id: 1004, at: now }],
                    deletion_log: Some(77),
                    resume: Some(ImportResume {
                        since: None,
                        started_at: now,
                        chunks: vec![ChunkPlace {
                            first: 1003,
                            last: 1005,
                            after: Some(5010),
                            done: false,
                            companies: Some(vec![1004]),
                        }],
                        newest: Some(now),
                    }),
                    version: 0,
                },
                Expect::Absent,
            )
            .await
            .unwrap();
        assert!(matches!(
            b.store
                .put_import_state(&t, p, ImportKind::Contacts, &saved, Expect::Absent)
                .await,
            Err(StoreError::Conflict(_))
        ));
        let read = b
            .store
            .get_import_state(&t, p, ImportKind::Contacts)
            .await
            .unwrap();
        assert_eq!(read, saved, "the place a paused pass goes on from is kept");

        assert!(
            b.store
                .list_imported(
                    &tenant("other"),
                    p,
                    ImportKind::Contacts,
                    &ImportFilter::default(),
                    None,
                    10
                )
                .await
                .unwrap()
                .items
                .is_empty(),
            "another tenant sees none"
        );
        b.store.purge_provider(&t, p).await.unwrap();
        assert!(
            all(ImportFilter::default()).await.is_empty(),
            "revoke deletes every record"
        );
        assert_eq!(
            b.store
                .get_import_state(&t, p, ImportKind::Contacts)
                .await
                .unwrap(),
            ImportState::default()
        );
    }

    pub async fn tenants_are_isolated(b: Backend) {
        let (a, other) = (tenant("tenant-a"), tenant("tenant-ab"));
        b.store
            .put_connection(
                &a,
                &connection(&b, Provider::Autotask, ConnectionStatus::Connected),
                Expect::Absent,
            )
            .await
            .unwrap();
        b.store
            .put_organization(&a, &org(&b, "shared-id", 5))
            .await
            .unwrap();
        b.store
            .put_org_mapping(
                &a,
                &org_mapping(&b, "shared-id", OrgTarget::Ninjaone { organization_id: 3 }),
                Expect::Absent,
            )
            .await
            .unwrap();
        b.store
            .put_run(
                &a,
                &run(&b, Provider::Autotask, 1, Duration::hours(1)),
                Expect::Absent,
            )
            .await
            .unwrap();

        assert!(b.store.list_connections(&other).await.unwrap().is_empty());
        assert!(
            b.store
                .get_connection(&other, Provider::Autotask)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            b.store
                .list_organizations(&other, None, 100)
                .await
                .unwrap()
                .items
                .is_empty()
        );
        assert!(
            b.store
                .get_organization(&other, &OrgId::new("shared-id").unwrap())
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            b.store
                .list_org_mappings(&other, Provider::Ninjaone)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            b.store
                .list_runs(&other, Provider::Autotask, 10)
                .await
                .unwrap()
                .is_empty()
        );

        b.store
            .put_organization(&other, &org(&b, "shared-id", 99))
            .await
            .unwrap();
        b.store
            .purge_provider(&other, Provider::Autotask)
            .await
            .unwrap();
        b.store
            .purge_provider(&other, Provider::Ninjaone)
            .await
            .unwrap();
        let theirs = b
            .store
            .get_organization(&a, &OrgId::new("shared-id").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            theirs.seats, 5,
            "another tenant's write and purge left tenant-a alone"
        );
        assert_eq!(b.store.list_connections(&a).await.unwrap().len(), 1);
        assert_eq!(
            b.store
                .list_org_mappings(&a, Provider::Ninjaone)
                .await
                .unwrap()
                .len(),
            1
        );
    }

    pub async fn active_index_lists_only_active_connections(b: Backend) {
        let mut expected = Vec::new();
        for i in 0..5 {
            let t = tenant(&format!("t{i}"));
            for provider in [Provider::Autotask, Provider::Halopsa] {
                let status = if i == 2 && provider == Provider::Halopsa {
                    ConnectionStatus::NeedsReconnect
                } else {
                    ConnectionStatus::Connected
                };
                b.store
                    .put_connection(&t, &connection(&b, provider, status), Expect::Absent)
                    .await
                    .unwrap();
                if status.is_active() {
                    expected.push((t.to_string(), provider));
                }
            }
        }
        let list_all = || async {
            let mut seen = Vec::new();
            let mut after = None;
            loop {
                let page = b
                    .store
                    .list_active_connections(after.as_ref(), 4)
                    .await
                    .unwrap();
                seen.extend(
                    page.items
                        .into_iter()
                        .map(|(t, c)| (t.to_string(), c.provider())),
                );
                match page.next {
                    Some(n) => after = Some(n),
                    None => break,
                }
            }
            seen.sort();
            seen
        };
        expected.sort();
        assert_eq!(list_all().await, expected);

        let t0 = tenant("t0");
        let c = b
            .store
            .get_connection(&t0, Provider::Autotask)
            .await
            .unwrap()
            .unwrap();
        let c = Connection {
            status: ConnectionStatus::NeedsReconnect,
            ..c
        };
        b.store
            .put_connection(&t0, &c, Expect::Version(1))
            .await
            .unwrap();
        expected.retain(|(t, p)| !(t == "t0" && *p == Provider::Autotask));
        assert_eq!(
            list_all().await,
            expected,
            "a connection that needs reconnecting leaves the index"
        );
    }

    pub async fn purge_removes_one_provider_only(b: Backend) {
        let t = tenant("acme");
        for provider in [Provider::Autotask, Provider::Halopsa] {
            b.store
                .put_connection(
                    &t,
                    &connection(&b, provider, ConnectionStatus::Connected),
                    Expect::Absent,
                )
                .await
                .unwrap();
            b.store
                .put_run(
                    &t,
                    &run(&b, provider, 1, Duration::hours(1)),
                    Expect::Absent,
                )
                .await
                .unwrap();
        }
        b.store
            .put_configuration(
                &t,
                &ProviderSettings::Halopsa(HaloSettings::default()),
                Expect::Absent,
            )
            .await
            .unwrap();
        b.store
            .put_configuration(
                &t,
                &ProviderSettings::Autotask(AutotaskSettings::default()),
                Expect::Absent,
            )
            .await
            .unwrap();
        for i in 0..3 {
            b.store
                .put_org_mapping(
                    &t,
                    &org_mapping(
                        &b,
                        &format!("o{i}"),
                        OrgTarget::Halopsa {
                            customer_id: 1,
                            licence_id: 2,
                        },
                    ),
                    Expect::Absent,
                )
                .await
                .unwrap();
        }
        b.store
            .put_org_mapping(
                &t,
                &org_mapping(
                    &b,
                    "o0",
                    OrgTarget::Autotask {
                        company_id: 1,
                        contract_id: Some(2),
                        contract_service_id: Some(3),
                    },
                ),
                Expect::Absent,
            )
            .await
            .unwrap();
        b.store
            .put_organization(&t, &org(&b, "o0", 1))
            .await
            .unwrap();
        let lease = b
            .store
            .acquire_lease(&t, Provider::Halopsa, LeaseKind::Run, Duration::minutes(5))
            .await
            .unwrap();

        b.store.purge_provider(&t, Provider::Halopsa).await.unwrap();

        assert!(
            b.store
                .get_connection(&t, Provider::Halopsa)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            b.store
                .get_configuration(&t, Provider::Halopsa)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            b.store
                .list_org_mappings(&t, Provider::Halopsa)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            b.store
                .list_runs(&t, Provider::Halopsa, 10)
                .await
                .unwrap()
                .is_empty()
        );
        b.store
            .acquire_lease(&t, Provider::Halopsa, LeaseKind::Run, Duration::minutes(5))
            .await
            .expect("the lease went with the purge");
        drop(lease);
        assert!(
            b.store
                .get_connection(&t, Provider::Autotask)
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            b.store
                .get_configuration(&t, Provider::Autotask)
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(
            b.store
                .list_org_mappings(&t, Provider::Autotask)
                .await
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            b.store
                .list_runs(&t, Provider::Autotask, 10)
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(
            b.store
                .get_organization(&t, &OrgId::new("o0").unwrap())
                .await
                .unwrap()
                .is_some()
        );
    }

    /// A listing's cursor is the last id it returned, so any text is a position: a portal may
    /// start after a known id, and a cursor from elsewhere is never an error. Cursors of the
    /// internal listings stay opaque and are checked.
    pub async fn cursors_are_positions(b: Backend) {
        let t = tenant("cursors");
        for id in ["o1", "o2", "o3"] {
            b.store.put_organization(&t, &org(&b, id, 1)).await.unwrap();
        }
        let first = b.store.list_organizations(&t, None, 1).await.unwrap();
        assert_eq!(first.next, Some(Cursor("o1".into())));
        let rest = b
            .store
            .list_organizations(&t, first.next.as_ref(), 10)
            .await
            .unwrap();
        let ids: Vec<&str> = rest.items.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(ids, ["o2", "o3"]);
        assert_eq!(rest.next, None);
        for anything in ["%%%not-base64", "zzz", ""] {
            let page = b
                .store
                .list_organizations(&t, Some(&Cursor(anything.into())), 10)
                .await
                .unwrap();
            assert!(page.items.iter().all(|o| o.id.as_str() > anything));
        }
        assert!(matches!(
            b.store
                .list_active_connections(Some(&Cursor("bm8tbmV3bGluZQ".into())), 10)
                .await,
            Err(StoreError::BadCursor)
        ));
    }

    pub async fn secrets_round_trip_and_delete(b: Backend) {
        let (a, other) = (tenant("acme"), tenant("globex"));
        let name = SecretName::for_connection(&b.prefix, &a, Provider::Autotask);
        let theirs = SecretName::for_connection(&b.prefix, &other, Provider::Autotask);
        assert_ne!(name, theirs);
        assert!(b.secrets.get(&name).await.unwrap().is_none());
        b.secrets
            .put(&name, &SecretString::from("first-secret"))
            .await
            .unwrap();
        b.secrets
            .put(&theirs, &SecretString::from("globex-secret"))
            .await
            .unwrap();
        assert_eq!(
            b.secrets.get(&name).await.unwrap().unwrap().expose_secret(),
            "first-secret"
        );
        b.secrets
            .put(&name, &SecretString::from("rotated-secret"))
            .await
            .unwrap();
        assert_eq!(
            b.secrets.get(&name).await.unwrap().unwrap().expose_secret(),
            "rotated-secret"
        );
        b.secrets.delete(&name).await.unwrap();
        assert!(
            b.secrets.get(&name).await.unwrap().is_none(),
            "a deleted secret is gone"
        );
        b.secrets
            .delete(&name)
            .await
            .expect("deleting a missing secret is fine");
        assert_eq!(
            b.secrets
                .get(&theirs)
                .await
                .unwrap()
                .unwrap()
                .expose_secret(),
            "globex-secret",
            "deleting one tenant's secret leaves another's"
        );
        b.secrets
            .put(&name, &SecretString::from("after-delete"))
            .await
            .expect("a secret can be created again after deletion (re-connect after revoke)");
        assert_eq!(
            b.secrets.get(&name).await.unwrap().unwrap().expose_secret(),
            "after-delete"
        );
    }
}

macro_rules! contract_suite {
    ($backend:ident, $make:expr, [$($check:ident),* $(,)?]) => {
        mod $backend {
            use super::*;
            $(
                #[tokio::test]
                async fn $check() {
                    let backend: Backend = $make;
                    checks::$check(backend).await;
                }
            )*
        }
    };
}

macro_rules! both_back_ends {
    ($($check:ident),* $(,)?) => {
        contract_suite!(sqlite, Backend::sqlite(), [$($check),*]);
        contract_suite!(dynamodb, Backend::dynamodb().await, [$($check),*]);
    };
}

both_back_ends!(
    connection_round_trip,
    configuration_versions,
    platform_round_trip_and_paging,
    mappings_are_one_item_each,
    runs_list_newest_first_and_expire,
    leases_exclude_until_expiry,
    tenants_are_isolated,
    active_index_lists_only_active_connections,
    purge_removes_one_provider_only,
    cursors_are_positions,
    secrets_round_trip_and_delete,
    refresh_leases_are_apart_from_run_leases,
    consents_are_taken_once_and_expire,
    abandoned_consents_stay_listed_for_the_sweep,
    assets_list_per_organization_and_go_with_revoke,
    ticket_records_are_claimed_once_and_repeats_never_lost,
    idempotency_keys_are_created_once_per_tenant_and_expire,
    imports_are_batched_per_kind_listed_by_company_and_go_with_revoke,
);
