//! `cargo test --test conformance`: runs every `.feature` under `features/` against the gateway under test: by
//! default the reference gateway, started in-process on free ports; with `--proxy-url <url> --admin-url <url>`
//! (or `CONFORMANCE_PROXY_URL`, `CONFORMANCE_ADMIN_URL`) any gateway with Kong's Admin API (see [`target`]). The
//! echo upstream runs in-process either way, on `--bind-host`, and the gateway reaches it at `--upstream-host`.
//!
//! Before any scenario, a preflight asks the Admin API root for the gateway's version and plugins; a scenario
//! whose tags need a plugin the target lacks, or a newer Kong (`@kong-3.6+`), is set apart as not applicable.
//!
//! Provisioning (`--provisioning`, `CONFORMANCE_PROVISIONING`, see [`target::Provisioning`]): `admin-api` (the
//! default) creates each scenario's entities through the Admin API's entity endpoints; `declarative` (chosen
//! automatically when the Admin API root reports `configuration.database` `"off"`, a DB-less Kong) sends each
//! scenario's entities as one declarative document with `POST /config` and runs the scenarios one at a time;
//! `external` provisions nothing and runs only `@preprovisioned` scenarios, every other being not applicable.
//!
//! Several targets (`--target NAME=PROXY_URL,ADMIN_URL`, repeatable; `NAME=in-process` for the reference
//! gateway) run one after another, each with its own preflight, provisioning mode and backends, into one report.
//!
//! Output: cucumber's console report, a JUnit XML report (`target/conformance/junit.xml` unless
//! `--junit-report` says otherwise; a test suite per target, not-applicable scenarios as `<skipped/>`), a
//! conformance matrix in Markdown (`target/conformance/matrix.md`, `--matrix-report`: a column per target and the
//! differences between them), and one last plain line per target `N passed, N failed[, N skipped], N not
//! applicable` counting scenarios, since a `harness = false` target prints no libtest summary. The exit code is
//! non-zero when a scenario failed on any target or a feature did not parse.
//!
//! Options go after `--`: cucumber's (`--name <regex>`, `--tags <expr>`, `--concurrency <n>`, `--fail-fast`,
//! `-vv` to print the World of a failed step...) and this harness's (the target and reports above, and the
//! identity provider of the `@openid-connect` scenarios, below). libtest's options
//! that `cargo test` users pass out of habit (`--nocapture`, `--test-threads=N`...) are ignored, and a bare filter
//! (`cargo test --test conformance logout`) selects the scenarios whose name contains it (see [`libtest`]).
//!
//! The identity provider ([`identity`]): `--idp embedded` (the default, in-process), `--idp keycloak` (a real
//! Keycloak in Docker, started by testcontainers with the same realm file; without a Docker engine the run stops
//! before any scenario with one line saying so and a non-zero exit), or any OpenID provider with `--idp-issuer
//! <url> --idp-client-id <id> --idp-client-secret <secret> --idp-username <user> --idp-password <password>`. Each
//! option has an environment variable (`CONFORMANCE_IDP`, `CONFORMANCE_IDP_ISSUER`, ...). Docker is probed for
//! Keycloak only when an `@openid-connect` scenario is selected. Against a provider given by URL, scenarios tagged
//! `@short-token-lifespan` cannot work (its token lifespans are its own): they are not applicable too.

mod admin;
mod flows;
mod identity;
// A backend with a builder API: the runner uses part of it, the keycloak test target the rest.
#[allow(dead_code)]
mod keycloak;
mod libtest;
mod report;
mod target;
mod world;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{CommandFactory as _, ValueEnum as _};
use cucumber::gherkin;
use cucumber::tag::Ext as _;
use cucumber::writer::{Coloring, Verbosity};
use cucumber::{StatsWriter as _, World as _, WriterExt as _, cli, parser, runner, writer};
use futures::FutureExt as _;
use tracing_subscriber::EnvFilter;

use identity::{ExternalIdp, IdpChoice, SHORT_TOKEN_LIFESPAN_TAG, Secret};
use libtest::Invocation;
use report::{Outcomes, Recorder, TargetReport};
use target::{Provisioning, TargetOptions, TargetSpec};
use world::{GatewayWorld, Suite};

/// This harness's own options, next to cucumber's.
#[derive(Clone, Debug, clap::Args)]
#[group(skip)]
struct Custom {
    /// Where to write the JUnit XML report.
    #[arg(long, value_name = "path", default_value_os_t = default_report("junit.xml"))]
    junit_report: PathBuf,

    /// Exit with success even when no scenario ran (all not applicable, or the filter matched none). Without
    /// it such a run fails: a run that tested nothing must not look green.
    #[arg(long, env = "CONFORMANCE_ALLOW_EMPTY")]
    allow_empty: bool,

    /// Where to write the conformance matrix (Markdown: every scenario with passed / failed / not applicable).
    #[arg(long, value_name = "path", default_value_os_t = default_report("matrix.md"))]
    matrix_report: PathBuf,

    /// Run against several gateways, one after another, into one matrix: `NAME=PROXY_URL,ADMIN_URL`, or
    /// `NAME=in-process` for the reference gateway started in-process. Repeatable; instead of
    /// --proxy-url/--admin-url. The matrix gets a column per target and a list of the scenarios whose verdicts
    /// differ; the JUnit report a test suite per target.
    #[arg(long = "target", value_name = "NAME=PROXY_URL,ADMIN_URL")]
    targets: Vec<TargetSpec>,

    /// Run against the gateway whose proxy listens here (with --admin-url) instead of the in-process
    /// reference gateway.
    #[arg(long, env = "CONFORMANCE_PROXY_URL", value_name = "url")]
    proxy_url: Option<url::Url>,

    /// The Admin API of that gateway (Kong's), through which each scenario provisions what it needs.
    #[arg(long, env = "CONFORMANCE_ADMIN_URL", value_name = "url")]
    admin_url: Option<url::Url>,

    /// The host the gateway must use to reach the harness's echo upstream and embedded identity provider
    /// (host.docker.internal for a gateway in Docker); default: --bind-host.
    #[arg(long, env = "CONFORMANCE_UPSTREAM_HOST", value_name = "host")]
    upstream_host: Option<String>,

    /// The address the harness's echo upstream and embedded identity provider listen on (0.0.0.0 to let a
    /// gateway in a container reach them).
    #[arg(
        long,
        env = "CONFORMANCE_BIND_HOST",
        value_name = "ip",
        default_value = "127.0.0.1"
    )]
    bind_host: std::net::IpAddr,

    /// How scenarios provision their entities: through the Admin API's entity endpoints (admin-api), as one
    /// declarative document sent with POST /config (declarative: a DB-less Kong; scenarios then run one at a
    /// time), or not at all (external: provisioned outside, e.g. by decK; only @preprovisioned scenarios run).
    /// Default: declarative when the Admin API root reports configuration.database "off", else admin-api.
    #[arg(
        long,
        env = "CONFORMANCE_PROVISIONING",
        value_enum,
        ignore_case = true,
        value_name = "mode"
    )]
    provisioning: Option<Provisioning>,

    /// The identity provider of the OpenID Connect scenarios: in-process (default) or a real Keycloak in
    /// Docker, both with fixtures/idp/realm-kong.json.
    #[arg(
        long,
        env = "CONFORMANCE_IDP",
        value_enum,
        ignore_case = true,
        value_name = "kind"
    )]
    idp: Option<IdpKind>,

    /// Run the OpenID Connect scenarios against the OpenID provider with this issuer instead (needs the four
    /// options below; --idp-client-secret may be left out for a public client).
    #[arg(long, env = "CONFORMANCE_IDP_ISSUER", value_name = "url")]
    idp_issuer: Option<url::Url>,

    /// The client the gateway authenticates as at --idp-issuer.
    #[arg(long, env = "CONFORMANCE_IDP_CLIENT_ID", value_name = "id")]
    idp_client_id: Option<String>,

    /// That client's secret.
    #[arg(
        long,
        env = "CONFORMANCE_IDP_CLIENT_SECRET",
        value_name = "secret",
        hide_env_values = true
    )]
    idp_client_secret: Option<Secret>,

    /// The user the scenarios log in as ("the documented user") at --idp-issuer.
    #[arg(long, env = "CONFORMANCE_IDP_USERNAME", value_name = "user")]
    idp_username: Option<String>,

    /// That user's password.
    #[arg(
        long,
        env = "CONFORMANCE_IDP_PASSWORD",
        value_name = "password",
        hide_env_values = true
    )]
    idp_password: Option<Secret>,

    /// Keep the OpenID Connect scenarios' sessions in this Redis (`HOST:PORT`, as the gateway reaches it): their
    /// openid-connect plugin is provisioned with `session_storage: redis` and Kong 3.10's `redis.host` /
    /// `redis.port` (Kong Enterprise's Redis session storage) instead of cookie storage. The same scenarios must
    /// pass; the cookie then holds only the session's header.
    #[arg(long, env = "CONFORMANCE_OIDC_REDIS", value_name = "host:port")]
    oidc_redis: Option<world::RedisAddr>,
}

/// `--idp`: which provider the harness starts itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum IdpKind {
    /// The in-process, Keycloak-compatible provider.
    Embedded,
    /// quay.io/keycloak/keycloak via testcontainers (needs a Docker engine).
    Keycloak,
}

impl Custom {
    /// The gateways under test these options ask for, each with its name: the `--target`s, or the one of
    /// `--proxy-url`/`--admin-url` (named `external`), or the in-process reference gateway (named `reference`).
    fn targets(&self) -> Result<Vec<(String, TargetOptions)>, String> {
        let external = match (&self.proxy_url, &self.admin_url) {
            (Some(proxy), Some(admin)) => Some(target::External {
                proxy: proxy.clone(),
                admin: admin.clone(),
            }),
            (None, None) => None,
            (Some(_), None) => {
                return Err("--proxy-url (CONFORMANCE_PROXY_URL) needs --admin-url too".to_owned());
            }
            (None, Some(_)) => {
                return Err("--admin-url (CONFORMANCE_ADMIN_URL) needs --proxy-url too".to_owned());
            }
        };
        let options = |external| TargetOptions {
            external,
            bind_host: self.bind_host,
            upstream_host: self.upstream_host.clone().filter(|host| !host.is_empty()),
            provisioning: self.provisioning,
        };
        if self.targets.is_empty() {
            let name = if external.is_some() {
                "external"
            } else {
                "reference"
            };
            return Ok(vec![(name.to_owned(), options(external))]);
        }
        if external.is_some() {
            return Err(
                "--target and --proxy-url/--admin-url both name the gateway under test; give one"
                    .to_owned(),
            );
        }
        let mut names = std::collections::BTreeSet::new();
        self.targets
            .iter()
            .map(|spec| {
                if !names.insert(spec.name.clone()) {
                    return Err(format!(
                        "--target {}: two targets have this name",
                        spec.name
                    ));
                }
                Ok((spec.name.clone(), options(spec.external.clone())))
            })
            .collect()
    }

    /// The identity provider these options ask for, or why they do not make sense together.
    fn idp_choice(&self) -> Result<IdpChoice, String> {
        let Some(issuer) = self.idp_issuer.clone() else {
            let stray = [
                ("--idp-client-id", self.idp_client_id.is_some()),
                ("--idp-client-secret", self.idp_client_secret.is_some()),
                ("--idp-username", self.idp_username.is_some()),
                ("--idp-password", self.idp_password.is_some()),
            ];
            if let Some((option, _)) = stray.iter().find(|(_, given)| *given) {
                return Err(format!(
                    "{option} is for a provider given by --idp-issuer (CONFORMANCE_IDP_ISSUER), and none is"
                ));
            }
            return Ok(match self.idp.unwrap_or(IdpKind::Embedded) {
                IdpKind::Embedded => IdpChoice::Embedded,
                IdpKind::Keycloak => IdpChoice::Keycloak,
            });
        };
        if let Some(kind) = self.idp {
            let kind = kind.to_possible_value().map(|v| v.get_name().to_owned());
            return Err(format!(
                "--idp {} and --idp-issuer {issuer} both name the identity provider; give one",
                kind.unwrap_or_default()
            ));
        }
        let missing = |option: &str| format!("--idp-issuer {issuer} needs {option} too");
        Ok(IdpChoice::External(ExternalIdp {
            client_id: self
                .idp_client_id
                .clone()
                .ok_or_else(|| missing("--idp-client-id"))?,
            client_secret: self.idp_client_secret.clone(),
            username: self
                .idp_username
                .clone()
                .ok_or_else(|| missing("--idp-username"))?,
            password: self
                .idp_password
                .clone()
                .ok_or_else(|| missing("--idp-password"))?,
            issuer,
        }))
    }
}

/// Every option the runner accepts.
type Opts = cli::Opts<
    parser::basic::Cli,
    runner::basic::Cli,
    cli::Compose<writer::basic::Cli, cli::Empty>,
    Custom,
>;

#[tokio::main]
async fn main() -> ExitCode {
    // The workspace builds reqwest with `rustls-no-provider`: every client needs a process-wide crypto provider,
    // even for plain-HTTP use. Another part (the gateway) may have installed one already; either is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    if std::env::var_os("RUST_LOG").is_some() {
        // Logs of the in-process gateway and of the harness, on stderr; off unless asked for.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
    let (args, filters) = match libtest::translate(std::env::args_os(), &command()) {
        Invocation::List => return ExitCode::SUCCESS,
        Invocation::Run { args, filters } => (args, filters),
    };
    let mut opts = match command()
        .try_get_matches_from(args)
        .and_then(|matches| <Opts as clap::FromArgMatches>::from_arg_matches(&matches))
    {
        Ok(opts) => opts,
        Err(error) => error.exit(),
    };
    let (idp, targets) = match (opts.custom.idp_choice(), opts.custom.targets()) {
        (Ok(idp), Ok(targets)) => (idp, targets),
        (Err(error), _) | (_, Err(error)) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let wanted: Selector = {
        let (name, tags) = (opts.re_filter.take(), opts.tags_filter.take());
        Arc::new(move |feature, rule, scenario| {
            let scenario_tags = feature
                .tags
                .iter()
                .chain(rule.iter().flat_map(|r: &&gherkin::Rule| &r.tags))
                .chain(&scenario.tags);
            name.as_ref()
                .is_none_or(|name| name.is_match(&scenario.name))
                && tags.as_ref().is_none_or(|expr| expr.eval(scenario_tags))
                && (filters.is_empty()
                    || filters.iter().any(|f| scenario.name.contains(f.as_str())))
        })
    };
    let features = Path::new(env!("CARGO_MANIFEST_DIR")).join("../features");
    if matches!(idp, IdpChoice::Keycloak) && openid_connect_selected(&features, &wanted) {
        // Fail here, before any scenario, rather than in every OpenID Connect scenario: one line, non-zero exit.
        // Only when an OpenID Connect scenario is selected: the others need no Docker.
        if let Err(error) = keycloak::probe_docker_engine().await {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    }
    if let Some(redis) = opts.custom.oidc_redis.clone() {
        println!("openid-connect sessions: session_storage redis at {redis}");
        world::use_oidc_redis(redis);
    }
    let skip_short_lifespans = !idp.can_shorten_lifespans();
    let idp_description = idp.describe();
    identity::choose(idp);

    let mut reports = Vec::new();
    let mut failed_any = false;
    let mut ran_any = 0;
    for (target_name, target_options) in targets {
        let target_description = target_options.describe();
        let chosen_provisioning = target_options.provisioning;
        target::choose(&target_name, target_options);

        // Preflight, before any scenario: the backends start (and the in-process gateway, by default), and the
        // Admin API's root must answer with the gateway's version and plugins. Any failure is one line.
        let suite = match Suite::get().await {
            Ok(suite) => suite,
            Err(error) => {
                eprintln!("preflight ({target_name}): {error}");
                return ExitCode::FAILURE;
            }
        };
        let info = match target::preflight(&suite.admin).await {
            Ok(info) => info,
            Err(error) => {
                eprintln!("{error}");
                return ExitCode::FAILURE;
            }
        };
        println!(
            "target {target_name}: {target_description}, version {}, database {}, plugins available: {}",
            info.version.as_deref().unwrap_or("unknown"),
            info.database.as_deref().unwrap_or("unknown"),
            info.plugins.iter().cloned().collect::<Vec<_>>().join(", ")
        );
        let provisioning = Provisioning::resolve(chosen_provisioning, &info);
        target::choose_provisioning(provisioning);
        let how = match (chosen_provisioning, provisioning) {
            (Some(_), _) => "as asked",
            (None, Provisioning::Declarative) => {
                "the Admin API root reports configuration.database \"off\""
            }
            (None, _) => "the default",
        };
        let mut run_opts = opts.clone();
        let mut provisioning_line = format!("{} ({how})", provisioning.name());
        if provisioning == Provisioning::Declarative && run_opts.runner.concurrency != Some(1) {
            // Each POST /config replaces every entity on the gateway: one scenario at a time.
            run_opts.runner.concurrency = Some(1);
            provisioning_line.push_str(", one scenario at a time");
        }
        println!("provisioning: {provisioning_line}");

        // Which scenarios run: those matching `--name`, `--tags` and libtest's positional filters, when given.
        // cucumber itself applies `--name` or `--tags` and then ignores a filter given in code, so the selection is
        // made here, where all three combine.
        // Scenarios the target or the identity provider cannot serve are then set apart as not applicable.
        let outcomes = Outcomes::default();
        let recorded = outcomes.clone();
        let selection_info = info.clone();
        let wanted = Arc::clone(&wanted);
        let idp_name = idp_description.clone();
        let selected = move |feature: &gherkin::Feature,
                             rule: Option<&gherkin::Rule>,
                             scenario: &gherkin::Scenario| {
            if !wanted(feature, rule, scenario) {
                return false;
            }
            let scenario_tags = || {
                feature
                    .tags
                    .iter()
                    .chain(rule.iter().flat_map(|r| &r.tags))
                    .chain(&scenario.tags)
            };
            let reason = provisioning
                .not_applicable(scenario_tags())
                .or_else(|| selection_info.not_applicable(scenario_tags()))
                .or_else(|| {
                    (skip_short_lifespans
                        && scenario_tags().any(|tag| tag == SHORT_TOKEN_LIFESPAN_TAG))
                    .then(|| {
                        format!(
                            "@{SHORT_TOKEN_LIFESPAN_TAG}: needs access tokens that expire within seconds, and the \
                             token lifespans of {idp_name} are set by that provider, not by this harness"
                        )
                    })
                });
            match reason {
                Some(reason) => {
                    recorded.not_applicable(feature, rule, scenario, reason);
                    false
                }
                None => true,
            }
        };

        let console = writer::Basic::raw(std::io::stdout(), Coloring::Auto, Verbosity::Default);
        let outcome = GatewayWorld::cucumber()
            .with_writer(
                console
                    .tee::<GatewayWorld, _>(Recorder::new(outcomes.clone()))
                    .normalized()
                    .summarized(),
            )
            .fail_on_skipped()
            .after(|_, _, _, _, world| {
                // Runs after every scenario, also one whose step failed or panicked: what it provisioned goes.
                async move {
                    if let Some(world) = world {
                        world.clean_up().await;
                    }
                }
                .boxed_local()
            })
            .with_cli(run_opts)
            .filter_run(features.clone(), selected)
            .await;

        for (reason, count) in outcomes.not_applicable_reasons() {
            println!("not applicable: {count} scenario(s): {reason}");
        }
        for (plugin, count) in world::plugins_not_enabled() {
            println!(
                "the target refused the plugin '{plugin}' as not enabled in {count} scenario(s): enable it on the \
                 gateway, or tag those scenarios @{plugin}"
            );
        }
        let scenarios = outcome.inner_writer().scenarios_stats();
        let not_applicable = outcomes.not_applicable_count();
        // A feature file that does not parse has no scenarios to count: count it as a failure so the line agrees
        // with the exit code.
        let failed = scenarios.failed + outcome.parsing_errors();
        let mut line = format!("{} passed, {failed} failed", scenarios.passed);
        if scenarios.skipped > 0 {
            line.push_str(&format!(", {} skipped", scenarios.skipped));
        }
        line.push_str(&format!(", {not_applicable} not applicable"));
        println!("target {target_name}: {line}");
        failed_any |= outcome.execution_has_failed() || failed > 0;
        ran_any += scenarios.passed + scenarios.failed + scenarios.skipped;
        reports.push(TargetReport {
            name: target_name,
            description: target_description,
            version: info.version.clone(),
            provisioning: provisioning_line,
            identity_provider: idp_description.clone(),
            summary: line,
            outcomes,
        });
    }

    let junit_path = opts.custom.junit_report.clone();
    match create_report(&junit_path).and_then(|mut file| report::write_junit(&mut file, &reports)) {
        Ok(()) => {}
        Err(error) => eprintln!(
            "cannot write the JUnit report {}: {error}",
            junit_path.display()
        ),
    }
    let matrix_path = opts.custom.matrix_report.clone();
    let matrix = report::Matrix { targets: &reports };
    match create_report(&matrix_path).and_then(|mut file| matrix.write(&mut file)) {
        Ok(()) => println!("conformance matrix: {}", matrix_path.display()),
        Err(error) => eprintln!("cannot write the matrix {}: {error}", matrix_path.display()),
    }
    for report in &reports {
        if reports.len() > 1 {
            print!("{}: ", report.name);
        }
        println!("{}", report.summary);
    }
    let not_applicable: usize = reports
        .iter()
        .map(|r| r.outcomes.not_applicable_count())
        .sum();
    if failed_any {
        ExitCode::FAILURE
    } else if ran_any == 0 && !opts.custom.allow_empty {
        let why = if not_applicable > 0 {
            format!("all {not_applicable} selected scenarios were not applicable to this target")
        } else {
            "no scenario matched the filter".to_owned()
        };
        eprintln!(
            "no scenario ran: {why}; a run that tested nothing fails (pass --allow-empty to accept it)"
        );
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Whether a scenario is selected by `--name`, `--tags` and libtest's positional filters.
type Selector = Arc<
    dyn Fn(&gherkin::Feature, Option<&gherkin::Rule>, &gherkin::Scenario) -> bool + Send + Sync,
>;

/// Whether any selected scenario under `features` is an `@openid-connect` one (the only ones that need the
/// identity provider, hence Docker for Keycloak). A feature that does not parse counts as selected.
fn openid_connect_selected(features: &Path, wanted: &Selector) -> bool {
    let mut files = Vec::new();
    let mut dirs = vec![features.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "feature") {
                files.push(path);
            }
        }
    }
    files.iter().any(|path| {
        let Ok(feature) = gherkin::Feature::parse_path(path, gherkin::GherkinEnv::default()) else {
            return true;
        };
        let oidc = |tags: &[String]| tags.iter().any(|t| t == "openid-connect");
        let in_feature = oidc(&feature.tags);
        let scenarios = feature.scenarios.iter().map(|s| (None, s)).chain(
            feature
                .rules
                .iter()
                .flat_map(|r| r.scenarios.iter().map(move |s| (Some(r), s))),
        );
        scenarios.into_iter().any(|(rule, scenario)| {
            (in_feature || rule.is_some_and(|r| oidc(&r.tags)) || oidc(&scenario.tags))
                && wanted(&feature, rule, scenario)
        })
    })
}

/// What `--help` says about this harness (cucumber's own text is about petting a dog).
const ABOUT: &str = "The conformance harness: Gherkin scenarios of Kong's session-authentication flows \
(key-auth, session, request-termination, openid-connect), run against the in-process reference gateway or, with \
--proxy-url/--admin-url, any gateway with Kong's Admin API (or several, with --target, into one matrix). Each \
scenario provisions what it needs through the Admin API (or POST /config) in its own namespace and checks only the proxy's wire behaviour. Writes a JUnit \
report and a conformance matrix; exits non-zero when a scenario failed, the target is not a Kong Admin API, or \
nothing ran (unless --allow-empty). Run it as `cargo test --test conformance -- [OPTIONS] [FILTER]`.";

/// The command line: cucumber's options and this harness's, under this harness's name and description.
fn command() -> clap::Command {
    Opts::command()
        .name("conformance")
        .about(ABOUT)
        .long_about(ABOUT)
}

/// `target/conformance/<file>` in the workspace's target directory (wherever `CARGO_TARGET_DIR` puts it).
fn default_report(file: &str) -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("conformance").join(file)
}

fn create_report(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    File::create(path)
}
