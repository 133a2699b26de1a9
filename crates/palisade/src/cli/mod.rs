//! `palisade` as an operator's client of the native API (`palisade org list`, `palisade
//! flow-check …`): each command is one or a few HTTP calls to a running server, shown as a
//! table for people or as the API's own JSON for scripts. The server holds every rule; the CLI
//! only names things conveniently (an organization by its sub-domain, a flow as `tcp/22`) and
//! tells outcomes apart by exit code (see [`client::Failure::exit_code`]).

pub mod client;
pub mod output;
pub mod profile;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Value};

use client::{Client, Failure, Outcome};
use output::{print, record, table, Format};

/// Where the API is and who is asking, shared by every client command.
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// The server's base URL.
    #[arg(
        long,
        env = "PALISADE_URL",
        default_value = "http://127.0.0.1:8080",
        global = true,
        help_heading = "Client options"
    )]
    pub url: String,

    /// A bearer token: the operator token, or an organization's API token.
    #[arg(
        long,
        env = "PALISADE_TOKEN",
        hide_env_values = true,
        global = true,
        help_heading = "Client options"
    )]
    pub token: Option<String>,

    /// Output: a table for people, or the API's JSON for scripts.
    #[arg(
        short = 'o',
        long = "output",
        value_enum,
        default_value = "table",
        global = true,
        help_heading = "Client options"
    )]
    pub format: Format,
}

/// An organization, by id or sub-domain.
#[derive(Debug, Clone, Args)]
pub struct OrgArg {
    /// The organization: its id or its sub-domain.
    #[arg(long = "org", env = "PALISADE_ORG")]
    pub org: String,
}

/// One object of an organization: the organization, and the object's id.
#[derive(Debug, Clone, Args)]
pub struct InOrg {
    #[command(flatten)]
    pub org: OrgArg,
    /// The object's id.
    pub id: String,
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organization (operator).
    ///
    /// Example: palisade org create --name "Acme" --sub-domain acme
    #[command(verbatim_doc_comment)]
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        sub_domain: String,
    },
    /// List organizations (operator).
    ///
    /// Example: palisade org list -o json
    #[command(verbatim_doc_comment)]
    List,
    /// Show one organization, by id or sub-domain.
    ///
    /// Example: palisade org show acme
    #[command(verbatim_doc_comment)]
    Show { org: String },
    /// Change an organization's name, status or resource-creation restriction (operator).
    ///
    /// Example: palisade org update acme --status suspended
    #[command(verbatim_doc_comment)]
    Update {
        org: String,
        #[arg(long)]
        name: Option<String>,
        /// active, suspended or not_activated.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        resource_creation_restricted: Option<bool>,
    },
    /// Delete an organization and everything it owns (operator).
    ///
    /// Example: palisade org delete acme
    #[command(verbatim_doc_comment)]
    Delete { org: String },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token; its secret is printed once.
    ///
    /// Example: palisade token create --org acme --name ci --scope security_groups --scope virtual_machines:read
    /// (scope names: palisade scopes)
    #[command(verbatim_doc_comment)]
    Create {
        #[command(flatten)]
        org: OrgArg,
        #[arg(long)]
        name: String,
        /// A scope the token holds (repeat for more).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// Only from these addresses or CIDRs (repeat; default: anywhere).
        #[arg(long = "allowed-network")]
        allowed_networks: Vec<String>,
        /// When it stops working (RFC 3339, e.g. 2027-01-01T00:00:00Z).
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// List an organization's tokens (never their secrets).
    ///
    /// Example: palisade token list --org acme
    #[command(verbatim_doc_comment)]
    List {
        #[command(flatten)]
        org: OrgArg,
    },
    /// Revoke a token: refused from its next request on.
    ///
    /// Example: palisade token revoke --org acme 0b6f…
    #[command(verbatim_doc_comment)]
    Revoke {
        #[command(flatten)]
        org: OrgArg,
        /// The token's id (not its secret).
        token_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user (for faces that sign in with a password). The password is read from
    /// standard input (one line) unless --password is given.
    ///
    /// Example: echo 's3cret-pass' | palisade user create --org acme --username alice
    #[command(verbatim_doc_comment)]
    Create {
        #[command(flatten)]
        org: OrgArg,
        #[arg(long)]
        username: String,
        #[arg(long, hide_env_values = true, env = "PALISADE_USER_PASSWORD")]
        password: Option<String>,
    },
    /// List an organization's users.
    ///
    /// Example: palisade user list --org acme
    #[command(verbatim_doc_comment)]
    List {
        #[command(flatten)]
        org: OrgArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum DcCommand {
    /// List data centers (operator).
    ///
    /// Example: palisade dc list
    #[command(verbatim_doc_comment)]
    List,
    /// Show a data center.
    ///
    /// Example: palisade dc show 5c1e…
    #[command(verbatim_doc_comment)]
    Show { id: String },
    /// Create a data center (operator).
    ///
    /// Example: palisade dc create --name London --permalink lon --country "United Kingdom" \
    ///            --iso2 GB --iso3 GBR --time-zone Europe/London
    #[command(verbatim_doc_comment)]
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        permalink: String,
        #[command(flatten)]
        country: Country,
    },
    /// Change a data center's name or permalink.
    ///
    /// Example: palisade dc update 5c1e… --name "London 2"
    #[command(verbatim_doc_comment)]
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        permalink: Option<String>,
    },
    /// Delete a data center (refused while networks use it).
    ///
    /// Example: palisade dc delete 5c1e…
    #[command(verbatim_doc_comment)]
    Delete { id: String },
}

/// A data center's country.
#[derive(Debug, Clone, Args)]
pub struct Country {
    /// The country's name.
    #[arg(long = "country", id = "country_name")]
    name: String,
    #[arg(long)]
    iso2: String,
    #[arg(long)]
    iso3: String,
    #[arg(long)]
    time_zone: String,
    /// The country is in the European Union.
    #[arg(long)]
    eu: bool,
}

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// List networks (operator).
    ///
    /// Example: palisade network list
    #[command(verbatim_doc_comment)]
    List,
    /// Show a network.
    ///
    /// Example: palisade network show 9a0d…
    #[command(verbatim_doc_comment)]
    Show { id: String },
    /// Create a network with IPv4 and/or IPv6 prefixes (operator).
    ///
    /// Example: palisade network create --name public --data-center 5c1e… --prefix 203.0.113.0/24 --default
    #[command(verbatim_doc_comment)]
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        data_center: String,
        /// A prefix (repeat for more).
        #[arg(long = "prefix", required = true)]
        prefixes: Vec<String>,
        /// A range never handed out (repeat).
        #[arg(long = "reserved")]
        reserved: Vec<String>,
        #[arg(long)]
        permalink: Option<String>,
        /// The default network of its data center.
        #[arg(long)]
        default: bool,
        /// Only this organization's (id or sub-domain); default: shared.
        #[arg(long)]
        org: Option<String>,
    },
    /// Change a network's name, permalink or default flag.
    ///
    /// Example: palisade network update 9a0d… --name public-2
    #[command(verbatim_doc_comment)]
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        permalink: Option<String>,
        #[arg(long)]
        default: Option<bool>,
    },
    /// Delete a network (refused while servers or addresses use it).
    ///
    /// Example: palisade network delete 9a0d…
    #[command(verbatim_doc_comment)]
    Delete { id: String },
}

#[derive(Debug, Subcommand)]
pub enum ServerCommand {
    /// List an organization's servers.
    ///
    /// Example: palisade server list --org acme
    #[command(verbatim_doc_comment)]
    List {
        #[command(flatten)]
        org: OrgArg,
    },
    /// Show a server.
    ///
    /// Example: palisade server show --org acme 7d2c…
    #[command(verbatim_doc_comment)]
    Show(InOrg),
    /// Create a server, with one interface on a network and its addresses.
    ///
    /// Example: palisade server create --org acme --name web-1 --network 9a0d… --address 203.0.113.10 --tag env:prod
    #[command(verbatim_doc_comment)]
    Create {
        #[command(flatten)]
        org: OrgArg,
        #[arg(long)]
        name: String,
        /// The network of its one interface (none: no interface).
        #[arg(long)]
        network: Option<String>,
        /// An address of that interface (repeat).
        #[arg(long = "address", requires = "network")]
        addresses: Vec<String>,
        /// A tag (repeat).
        #[arg(long = "tag")]
        tags: Vec<String>,
    },
    /// Change a server's name or tags (--tag replaces them all; --no-tags removes them).
    ///
    /// Example: palisade server update --org acme 7d2c… --tag env:prod --tag tier:web
    #[command(verbatim_doc_comment)]
    Update {
        #[command(flatten)]
        org: OrgArg,
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long = "tag")]
        tags: Vec<String>,
        #[arg(long, conflicts_with = "tags")]
        no_tags: bool,
    },
    /// Delete a server.
    ///
    /// Example: palisade server delete --org acme 7d2c…
    #[command(verbatim_doc_comment)]
    Delete(InOrg),
}

#[derive(Debug, Subcommand)]
pub enum IpCommand {
    /// List an organization's addresses.
    ///
    /// Example: palisade ip list --org acme
    #[command(verbatim_doc_comment)]
    List {
        #[command(flatten)]
        org: OrgArg,
    },
    /// Show an address.
    ///
    /// Example: palisade ip show --org acme 41aa…
    #[command(verbatim_doc_comment)]
    Show(InOrg),
    /// Take a free address of a network for the organization.
    ///
    /// Example: palisade ip create --org acme --network 9a0d… --version 4
    #[command(verbatim_doc_comment)]
    Create {
        #[command(flatten)]
        org: OrgArg,
        #[arg(long)]
        network: String,
        /// 4 or 6.
        #[arg(long, value_parser = ["4", "6"])]
        version: String,
        #[arg(long)]
        label: Option<String>,
    },
    /// Release an address back to its network.
    ///
    /// Example: palisade ip release --org acme 41aa…
    #[command(verbatim_doc_comment)]
    Release(InOrg),
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// List the security groups and roles of every face (policy:read).
    ///
    /// Example: palisade group list --org acme
    #[command(verbatim_doc_comment)]
    List {
        #[command(flatten)]
        org: OrgArg,
    },
    /// Show a group or role with what it applies to and its rules (policy:read).
    ///
    /// Example: palisade group show --org acme 3f9e…
    #[command(verbatim_doc_comment)]
    Show(InOrg),
}

#[derive(Debug, Subcommand)]
pub enum RuleCommand {
    /// List a group's or role's rules as written, whichever face wrote them (policy:read).
    ///
    /// Example: palisade rule list --org acme --group 3f9e…
    #[command(verbatim_doc_comment)]
    List {
        #[command(flatten)]
        org: OrgArg,
        /// The group or role.
        #[arg(long)]
        group: String,
    },
}

/// The client commands.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Organizations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// An organization's API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// An organization's users.
    #[command(subcommand)]
    User(UserCommand),
    /// Data centers.
    #[command(subcommand)]
    Dc(DcCommand),
    /// Networks.
    #[command(subcommand)]
    Network(NetworkCommand),
    /// An organization's servers.
    #[command(subcommand)]
    Server(ServerCommand),
    /// An organization's IP addresses.
    #[command(subcommand)]
    Ip(IpCommand),
    /// Security groups and roles of every face.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Rules of a group or role.
    #[command(subcommand)]
    Rule(RuleCommand),
    /// Would a flow pass, and why: the verdict and its explanation.
    ///
    /// SOURCE and DESTINATION are addresses or server ids; FLOW is tcp/PORT, udp/PORT, icmp,
    /// icmpv6 or a protocol number. Exits 0 when allowed, 1 when denied or rejected.
    ///
    /// Example: palisade flow-check --org acme 203.0.113.10 203.0.113.20 tcp/22
    #[command(verbatim_doc_comment)]
    FlowCheck {
        #[command(flatten)]
        org: OrgArg,
        source: String,
        destination: String,
        flow: String,
    },
    /// What in an organization's policy is probably wrong.
    ///
    /// Example: palisade lint --org acme
    #[command(verbatim_doc_comment)]
    Lint {
        #[command(flatten)]
        org: OrgArg,
    },
    /// A server's effective policy: what applies to it, in evaluation order.
    ///
    /// Example: palisade policy 7d2c…
    #[command(verbatim_doc_comment)]
    Policy { server: String },
    /// The scope names a token may hold, and what each allows.
    ///
    /// Example: palisade scopes
    #[command(verbatim_doc_comment)]
    Scopes,
    /// The audit trail, newest first: who changed what, when, and through which face.
    ///
    /// Every write on every face is recorded with the fields it changed (before → after;
    /// `-o json` shows them). The operator sees every organization's events; a token with
    /// `audit:read` its own organization's.
    ///
    /// Example: palisade audit --org acme --kind security_group --since 2026-12-01T00:00:00Z
    #[command(verbatim_doc_comment)]
    Audit(AuditArgs),
}

/// Which events `palisade audit` shows.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Only this organization's events (an id or sub-domain).
    #[arg(long)]
    org: Option<String>,
    /// Only events about objects of this kind (security_group, rule, api_token, server, …).
    #[arg(long)]
    kind: Option<String>,
    /// Only events about the object with this id.
    #[arg(long)]
    object: Option<String>,
    /// Only this principal's changes: operator, token:ID or user:ID.
    #[arg(long)]
    principal: Option<String>,
    /// Only the changes of the request with this X-Request-ID.
    #[arg(long)]
    request: Option<String>,
    /// Only events at or after this time (RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// Only events before this time (RFC 3339).
    #[arg(long)]
    until: Option<String>,
    /// How many events per page (at most 200).
    #[arg(long, default_value_t = 30)]
    limit: u32,
    /// Which page, counted from the newest.
    #[arg(long, default_value_t = 1)]
    page: u32,
}

/// Runs one client command; the exit code says how it went.
pub async fn run(connection: Connection, command: ClientCommand) -> u8 {
    let client = Client::new(&connection.url, connection.token.clone());
    match dispatch(&client, connection.format, command).await {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("palisade: {failure}");
            failure.exit_code()
        }
    }
}

/// Columns of each kind of listing.
const ORGS: &[(&str, &str)] =
    &[("ID", "id"), ("NAME", "name"), ("SUB-DOMAIN", "sub_domain"), ("STATUS", "status")];
const TOKENS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("NAME", "name"),
    ("SCOPES", "scopes"),
    ("EXPIRES", "expires_at"),
    ("SERVER", "server_id"),
    ("REVOKED", "revoked_at"),
];
const USERS: &[(&str, &str)] = &[("ID", "id"), ("USERNAME", "username"), ("CREATED", "created_at")];
const DCS: &[(&str, &str)] =
    &[("ID", "id"), ("NAME", "name"), ("PERMALINK", "permalink"), ("COUNTRY", "country.iso_code2")];
const NETWORKS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("NAME", "name"),
    ("PREFIXES", "prefixes"),
    ("DATA CENTER", "data_center_id"),
    ("DEFAULT", "default"),
];
const SERVERS: &[(&str, &str)] = &[("ID", "id"), ("NAME", "name"), ("TAGS", "tags")];
const ADDRESSES: &[(&str, &str)] = &[
    ("ID", "id"),
    ("ADDRESS", "address"),
    ("NETWORK", "network_id"),
    ("LABEL", "label"),
    ("INTERFACE", "interface_id"),
];
const GROUPS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("KIND", "kind"),
    ("NAME", "name"),
    ("ENABLED", "enabled"),
    ("RULES", "rules_count"),
    ("MEMBERS", "members"),
];
const RULES: &[(&str, &str)] = &[
    ("ID", "id"),
    ("DIRECTION", "direction"),
    ("ACTION", "action"),
    ("PROTOCOL", "protocol"),
    ("PORTS", "ports"),
    ("PRIORITY", "priority"),
    ("REMOTES", "remotes"),
];
const AUDIT: &[(&str, &str)] = &[
    ("AT", "at"),
    ("PRINCIPAL", "principal"),
    ("FACE", "face"),
    ("OPERATION", "operation"),
    ("KIND", "object_kind"),
    ("OBJECT", "object_id"),
    ("FIELDS", "fields"),
];
const SCOPES: &[(&str, &str)] = &[("SCOPE", "name"), ("ALLOWS", "description")];
const FINDINGS: &[(&str, &str)] = &[("SEVERITY", "severity"), ("KIND", "kind"), ("MESSAGE", "message")];

/// Drops absent fields of a request body (the API reads an absent field as "leave it").
fn present(fields: &[(&str, Option<Value>)]) -> Value {
    Value::Object(fields.iter().filter_map(|(k, v)| Some(((*k).to_owned(), v.clone()?))).collect())
}

async fn dispatch(client: &Client, format: Format, command: ClientCommand) -> Outcome<u8> {
    let show = |value: &Value| print(format, value, record);
    let list = |items: Vec<Value>, columns: &[(&str, &str)]| {
        print(format, &Value::Array(items.clone()), |_| table(&items, columns));
    };
    match command {
        ClientCommand::Org(command) => match command {
            OrgCommand::Create { name, sub_domain } => {
                let body = json!({"name": name, "sub_domain": sub_domain});
                show(&client.call(Method::POST, "/organizations", Some(body)).await?["organization"]);
            }
            OrgCommand::List => list(client.all("/organizations", "organizations").await?, ORGS),
            OrgCommand::Show { org } => {
                let id = client.organization(&org).await?;
                show(&client.get(&format!("/organizations/{id}")).await?["organization"]);
            }
            OrgCommand::Update { org, name, status, resource_creation_restricted } => {
                let id = client.organization(&org).await?;
                let body = present(&[
                    ("name", name.map(Value::from)),
                    ("status", status.map(Value::from)),
                    ("resource_creation_restricted", resource_creation_restricted.map(Value::from)),
                ]);
                let answer = client.call(Method::PATCH, &format!("/organizations/{id}"), Some(body)).await?;
                show(&answer["organization"]);
            }
            OrgCommand::Delete { org } => {
                let id = client.organization(&org).await?;
                client.call(Method::DELETE, &format!("/organizations/{id}"), None).await?;
            }
        },
        ClientCommand::Token(command) => match command {
            TokenCommand::Create { org, name, scopes, allowed_networks, expires_at } => {
                let id = client.organization(&org.org).await?;
                let body = present(&[
                    ("name", Some(name.into())),
                    ("scopes", Some(scopes.into())),
                    ("allowed_networks", Some(allowed_networks.into())),
                    ("expires_at", expires_at.map(Value::from)),
                ]);
                let answer =
                    client.call(Method::POST, &format!("/organizations/{id}/api_tokens"), Some(body)).await?;
                print(format, &answer, |a| {
                    let secret = a["secret"].as_str().unwrap_or_default();
                    format!("{}\nsecret  {secret}\n(the secret is shown only now)", record(&a["api_token"]))
                });
            }
            TokenCommand::List { org } => {
                let id = client.organization(&org.org).await?;
                list(client.all(&format!("/organizations/{id}/api_tokens"), "api_tokens").await?, TOKENS);
            }
            TokenCommand::Revoke { org, token_id } => {
                let id = client.organization(&org.org).await?;
                client
                    .call(Method::DELETE, &format!("/organizations/{id}/api_tokens/{token_id}"), None)
                    .await?;
            }
        },
        ClientCommand::User(command) => match command {
            UserCommand::Create { org, username, password } => {
                let id = client.organization(&org.org).await?;
                let password = match password {
                    Some(p) => p,
                    None => read_line().map_err(|e| Failure::Usage(format!("reading the password: {e}")))?,
                };
                let body = json!({"username": username, "password": password});
                show(
                    &client.call(Method::POST, &format!("/organizations/{id}/users"), Some(body)).await?
                        ["user"],
                );
            }
            UserCommand::List { org } => {
                let id = client.organization(&org.org).await?;
                list(client.all(&format!("/organizations/{id}/users"), "users").await?, USERS);
            }
        },
        ClientCommand::Dc(command) => match command {
            DcCommand::List => list(client.all("/data_centers", "data_centers").await?, DCS),
            DcCommand::Show { id } => show(&client.get(&format!("/data_centers/{id}")).await?["data_center"]),
            DcCommand::Create { name, permalink, country } => {
                let body = json!({"name": name, "permalink": permalink, "country": {"name": country.name,
                    "iso_code2": country.iso2, "iso_code3": country.iso3, "time_zone": country.time_zone,
                    "eu": country.eu}});
                show(&client.call(Method::POST, "/data_centers", Some(body)).await?["data_center"]);
            }
            DcCommand::Update { id, name, permalink } => {
                let body =
                    present(&[("name", name.map(Value::from)), ("permalink", permalink.map(Value::from))]);
                let answer = client.call(Method::PATCH, &format!("/data_centers/{id}"), Some(body)).await?;
                show(&answer["data_center"]);
            }
            DcCommand::Delete { id } => {
                client.call(Method::DELETE, &format!("/data_centers/{id}"), None).await?;
            }
        },
        ClientCommand::Network(command) => match command {
            NetworkCommand::List => list(client.all("/networks", "networks").await?, NETWORKS),
            NetworkCommand::Show { id } => show(&client.get(&format!("/networks/{id}")).await?["network"]),
            NetworkCommand::Create { name, data_center, prefixes, reserved, permalink, default, org } => {
                let org = match org {
                    Some(org) => Some(Value::from(client.organization(&org).await?)),
                    None => None,
                };
                let body = present(&[
                    ("name", Some(name.into())),
                    ("data_center_id", Some(data_center.into())),
                    ("prefixes", Some(prefixes.into())),
                    ("reserved", Some(reserved.into())),
                    ("permalink", permalink.map(Value::from)),
                    ("default", Some(default.into())),
                    ("organization_id", org),
                ]);
                show(&client.call(Method::POST, "/networks", Some(body)).await?["network"]);
            }
            NetworkCommand::Update { id, name, permalink, default } => {
                let body = present(&[
                    ("name", name.map(Value::from)),
                    ("permalink", permalink.map(Value::from)),
                    ("default", default.map(Value::from)),
                ]);
                show(&client.call(Method::PATCH, &format!("/networks/{id}"), Some(body)).await?["network"]);
            }
            NetworkCommand::Delete { id } => {
                client.call(Method::DELETE, &format!("/networks/{id}"), None).await?;
            }
        },
        ClientCommand::Server(command) => match command {
            ServerCommand::List { org } => {
                let id = client.organization(&org.org).await?;
                list(client.all(&format!("/organizations/{id}/servers"), "servers").await?, SERVERS);
            }
            ServerCommand::Show(InOrg { org, id }) => {
                let org = client.organization(&org.org).await?;
                show(&client.get(&format!("/organizations/{org}/servers/{id}")).await?["server"]);
            }
            ServerCommand::Create { org, name, network, addresses, tags } => {
                let org = client.organization(&org.org).await?;
                let interfaces: Vec<Value> =
                    network.map(|n| json!({"network_id": n, "addresses": addresses})).into_iter().collect();
                let body = json!({"name": name, "interfaces": interfaces, "tags": tags});
                let answer =
                    client.call(Method::POST, &format!("/organizations/{org}/servers"), Some(body)).await?;
                show(&answer["server"]);
            }
            ServerCommand::Update { org, id, name, tags, no_tags } => {
                let org = client.organization(&org.org).await?;
                let tags = (no_tags || !tags.is_empty()).then(|| Value::from(tags));
                let body = present(&[("name", name.map(Value::from)), ("tags", tags)]);
                let path = format!("/organizations/{org}/servers/{id}");
                show(&client.call(Method::PATCH, &path, Some(body)).await?["server"]);
            }
            ServerCommand::Delete(InOrg { org, id }) => {
                let org = client.organization(&org.org).await?;
                client.call(Method::DELETE, &format!("/organizations/{org}/servers/{id}"), None).await?;
            }
        },
        ClientCommand::Ip(command) => match command {
            IpCommand::List { org } => {
                let id = client.organization(&org.org).await?;
                list(
                    client.all(&format!("/organizations/{id}/ip_addresses"), "ip_addresses").await?,
                    ADDRESSES,
                );
            }
            IpCommand::Show(InOrg { org, id }) => {
                let org = client.organization(&org.org).await?;
                show(&client.get(&format!("/organizations/{org}/ip_addresses/{id}")).await?["ip_address"]);
            }
            IpCommand::Create { org, network, version, label } => {
                let org = client.organization(&org.org).await?;
                let version = if version == "6" { "ipv6" } else { "ipv4" };
                let body = present(&[
                    ("network_id", Some(network.into())),
                    ("version", Some(version.into())),
                    ("label", label.map(Value::from)),
                ]);
                let path = format!("/organizations/{org}/ip_addresses");
                show(&client.call(Method::POST, &path, Some(body)).await?["ip_address"]);
            }
            IpCommand::Release(InOrg { org, id }) => {
                let org = client.organization(&org.org).await?;
                client.call(Method::DELETE, &format!("/organizations/{org}/ip_addresses/{id}"), None).await?;
            }
        },
        ClientCommand::Group(GroupCommand::List { org }) => {
            let org = client.organization(&org.org).await?;
            list(client.all(&format!("/organizations/{org}/groups"), "groups").await?, GROUPS);
        }
        ClientCommand::Group(GroupCommand::Show(InOrg { org, id })) => {
            let org = client.organization(&org.org).await?;
            let answer = client.get(&format!("/organizations/{org}/groups/{id}")).await?;
            print(format, &answer, |a| {
                let rules = a["rules"].as_array().cloned().unwrap_or_default();
                format!("{}\n\n{}", record(&a["group"]), table(&rules, RULES))
            });
        }
        ClientCommand::Rule(RuleCommand::List { org, group }) => {
            let org = client.organization(&org.org).await?;
            let answer = client.get(&format!("/organizations/{org}/groups/{group}")).await?;
            list(answer["rules"].as_array().cloned().unwrap_or_default(), RULES);
        }
        ClientCommand::FlowCheck { org, source, destination, flow } => {
            let org = client.organization(&org.org).await?;
            let (protocol, port) = match flow.split_once('/') {
                Some((protocol, port)) => {
                    let port: u16 = port
                        .parse()
                        .map_err(|_| Failure::Usage(format!("{port:?} is no port (FLOW is like tcp/22)")))?;
                    (protocol.to_owned(), Some(port))
                }
                None => (flow, None),
            };
            let body = present(&[
                ("source", Some(source.into())),
                ("destination", Some(destination.into())),
                ("protocol", Some(protocol.into())),
                ("port", port.map(Value::from)),
            ]);
            let answer =
                client.call(Method::POST, &format!("/organizations/{org}/flow_checks"), Some(body)).await?;
            print(format, &answer, |a| {
                let verdict = a["verdict"].as_str().unwrap_or("?").to_uppercase();
                format!("{verdict}\n{}", a["explanation"].as_str().unwrap_or_default())
            });
            return Ok(if answer["verdict"] == "allow" { 0 } else { 1 });
        }
        ClientCommand::Lint { org } => {
            let org = client.organization(&org.org).await?;
            let answer = client.get(&format!("/organizations/{org}/policy/lint")).await?;
            let findings = answer["findings"].as_array().cloned().unwrap_or_default();
            print(format, &answer, |a| {
                let head = format!("revision {}: {} findings", a["revision"], findings.len());
                if findings.is_empty() {
                    head
                } else {
                    format!("{head}\n{}", table(&findings, FINDINGS))
                }
            });
        }
        ClientCommand::Policy { server } => {
            let answer = client.get(&format!("/servers/{server}/policy")).await?;
            print(format, &answer, policy_text);
        }
        ClientCommand::Scopes => {
            list(client.get("/scopes").await?["scopes"].as_array().cloned().unwrap_or_default(), SCOPES)
        }
        ClientCommand::Audit(args) => {
            let org = match &args.org {
                Some(org) => Some(client.organization(org).await?),
                None => None,
            };
            let mut query =
                reqwest::Url::parse("http://query/").map_err(|e| Failure::Usage(e.to_string()))?;
            query.query_pairs_mut().extend_pairs(
                [
                    ("organization_id", org),
                    ("object_kind", args.kind),
                    ("object_id", args.object),
                    ("principal", args.principal),
                    ("request_id", args.request),
                    ("since", args.since),
                    ("until", args.until),
                    ("per_page", Some(args.limit.to_string())),
                    ("page", Some(args.page.to_string())),
                ]
                .into_iter()
                .filter_map(|(k, v)| Some((k, v?))),
            );
            let answer = client.get(&format!("/audit_events?{}", query.query().unwrap_or_default())).await?;
            print(format, &answer, |a| {
                let events: Vec<Value> = a["audit_events"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|e| {
                        let mut e = e.clone();
                        let fields: Vec<Value> = e["changes"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|c| c["field"].clone())
                            .collect();
                        e["fields"] = Value::Array(fields);
                        e
                    })
                    .collect();
                let p = &a["pagination"];
                format!(
                    "{}
page {} of {} ({} events)",
                    table(&events, AUDIT),
                    p["page"],
                    p["total_pages"],
                    p["total"]
                )
            });
        }
    }
    Ok(0)
}

/// A server's effective policy for people: each direction's rules in order, then the default.
fn policy_text(policy: &Value) -> String {
    let mut out = vec![format!(
        "server {} at revision {} ({})",
        policy["server_id"].as_str().unwrap_or("?"),
        policy["revision"],
        if policy["governed"] == true { "governed" } else { "unfiltered: no group applies" }
    )];
    for (direction, from) in [("ingress", "from"), ("egress", "to")] {
        let rules = policy[direction].as_array().cloned().unwrap_or_default();
        out.push(format!("{direction}:"));
        for rule in &rules {
            let ports: Vec<String> = rule["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    if p["from"] == p["to"] {
                        p["from"].to_string()
                    } else {
                        format!("{}-{}", p["from"], p["to"])
                    }
                })
                .collect();
            let set = rule["remote_set"].as_str().unwrap_or_default();
            let remotes = policy["sets"][set].as_array().map_or(0, Vec::len);
            out.push(format!(
                "  {} {}{} {from} {set} ({remotes} CIDRs)  [{}]",
                rule["action"].as_str().unwrap_or("?"),
                rule["protocol"].as_str().unwrap_or("?"),
                if ports.is_empty() { String::new() } else { format!(" {}", ports.join(",")) },
                rule["group_name"].as_str().unwrap_or("?"),
            ));
        }
        out.push(format!("  otherwise: {}", policy["defaults"][direction].as_str().unwrap_or("?")));
    }
    out.join("\n")
}

/// One line of standard input, without its line break.
fn read_line() -> std::io::Result<String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
