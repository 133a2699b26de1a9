"""Seeds a fresh Palisade server for scripts/schemathesis.sh and writes schemathesis's config.

Without real ids nearly every generated request for an organization's objects ends in a 404 and
never reaches the handlers' logic or their 2xx response schemas. So this makes a small world (a
data center, a network, an organization with a server, addresses, tokens and a user, plus
objects meant to be deleted, unused data centers and networks among them) and binds schemathesis's path and body parameters to those ids most
of the time (generated values the rest of the time). Delete operations get their own victims so
that the objects the other operations need survive the run.

Usage: schemathesis_seed.py BASE_URL OPERATOR_TOKEN CONFIG_OUT
Only the standard library: it runs with the venv's or the system's Python.
"""

import json
import sys
import urllib.request

base, token, out = sys.argv[1], sys.argv[2], sys.argv[3]


def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{base}/api/v1{path}", data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as res:
        return json.loads(res.read() or b"null")


country = {"name": "Netherlands", "iso_code2": "NL", "iso_code3": "NLD", "time_zone": "Europe/Amsterdam", "eu": True}
dc = call("POST", "/data_centers", {"name": "Seed DC", "permalink": "seed-dc", "country": country})["data_center"]["id"]
net = call(
    "POST",
    "/networks",
    {"name": "Seed net", "data_center_id": dc, "prefixes": ["198.51.100.0/24", "2001:db8:5::/64"], "reserved": ["198.51.100.1"]},
)["network"]["id"]


# Unused data centers and networks, for the deletes (the seed's own are in use: deleting them
# is refused with 409 `in_use`, which the deletes meet when they draw a generated id instead).
dc_victims = [
    call("POST", "/data_centers", {"name": f"Victim DC {i}", "permalink": f"victim-dc-{i}", "country": country})[
        "data_center"
    ]["id"]
    for i in range(8)
]
network_victims = [
    call("POST", "/networks", {"name": f"Victim net {i}", "data_center_id": dc, "prefixes": [f"10.{i}.0.0/24"]})[
        "network"
    ]["id"]
    for i in range(8)
]


def org(sub_domain):
    return call("POST", "/organizations", {"name": sub_domain, "sub_domain": sub_domain})["organization"]["id"]


main = org("seed")
org_victims = [org(f"seed-victim-{i}") for i in range(8)]


def server(name, address):
    body = {"name": name, "interfaces": [{"network_id": net, "addresses": [address]}], "tags": ["env:seed"]}
    return call("POST", f"/organizations/{main}/servers", body)["server"]


srv = server("seed", "198.51.100.10")
interface = srv["interfaces"][0]["id"]
server_victims = [server(f"victim-{i}", f"198.51.100.{20 + i}")["id"] for i in range(8)]


def ip(label=None):
    body = {"network_id": net, "version": "ipv4"}
    if label:
        body.update(vip=True, label=label)
    return call("POST", f"/organizations/{main}/ip_addresses", body)["ip_address"]["id"]


allocated = ip()
call("POST", f"/organizations/{main}/ip_addresses/{allocated}/allocate", {"server_id": srv["id"], "interface_id": interface})
ips = [allocated, ip(), ip("seed-vip")]
ip_victims = [ip() for _ in range(8)]
scopes = ["organizations:read", "virtual_machines", "ip_addresses"]
token_victims = [
    call("POST", f"/organizations/{main}/api_tokens", {"name": f"victim-{i}", "scopes": scopes})["api_token"]["id"]
    for i in range(8)
]
call("POST", f"/organizations/{main}/users", {"username": "seed-user", "password": "seed-password-1"})

dictionaries = {
    "orgs": [main],
    "org_victims": org_victims,
    "dcs": [dc],
    "dc_victims": dc_victims,
    "networks": [net],
    "network_victims": network_victims,
    "servers": [srv["id"]],
    "server_victims": server_victims,
    "interfaces": [interface],
    "ips": ips,
    "ip_victims": ip_victims,
    "token_victims": token_victims,
}

# (path regex, method regex, {parameter: dictionary}); first the deletes, which take victims.
P = 0.8
bindings = [
    (r"^/api/v1/organizations/\{id\}$", "DELETE", {"path.id": "org_victims"}),
    (r"^/api/v1/organizations/\{id\}/servers/\{server_id\}$", "DELETE", {"path.id": "orgs", "path.server_id": "server_victims"}),
    (r"^/api/v1/organizations/\{id\}/ip_addresses/\{ip_id\}$", "DELETE", {"path.id": "orgs", "path.ip_id": "ip_victims"}),
    (r"^/api/v1/organizations/\{id\}/api_tokens/\{token_id\}$", "DELETE", {"path.id": "orgs", "path.token_id": "token_victims"}),
    (r"^/api/v1/data_centers/\{id\}$", "DELETE", {"path.id": "dc_victims"}),
    (r"^/api/v1/networks/\{id\}$", "DELETE", {"path.id": "network_victims"}),
    (r"^/api/v1/organizations/\{id\}$", "GET|PATCH", {"path.id": "orgs"}),
    (r"^/api/v1/organizations/\{id\}/servers/\{server_id\}$", "GET", {"path.id": "orgs", "path.server_id": "servers"}),
    (r"^/api/v1/organizations/\{id\}/ip_addresses/\{ip_id\}", "GET|PATCH|POST", {"path.id": "orgs", "path.ip_id": "ips"}),
    (r"^/api/v1/organizations/\{id\}/[a-z_]+$", "GET|POST", {"path.id": "orgs"}),
    (r"^/api/v1/data_centers/\{id\}$", "GET|PATCH", {"path.id": "dcs"}),
    (r"^/api/v1/networks/\{id\}$", "GET|PATCH", {"path.id": "networks"}),
]
body_bindings = {
    "body.network_id": "networks",
    "body.interfaces[*].network_id": "networks",
    "body.data_center_id": "dcs",
    "body.organization_id": "orgs",
    "body.server_id": "servers",
    "body.interface_id": "interfaces",
}


def toml_str(s):
    return json.dumps(s)  # a JSON string is a valid TOML basic string for these values


lines = []
for name, values in dictionaries.items():
    lines += [f"[dictionaries.{name}]", f"values = [{', '.join(toml_str(v) for v in values)}]", ""]
lines.append("[parameters]")
for key, name in body_bindings.items():
    lines.append(f"{toml_str(key)} = {{ dictionary = {toml_str(name)}, probability = {P} }}")
lines.append("")
for path, method, params in bindings:
    lines += ["[[operations]]", f"include-path-regex = {toml_str(path)}", f"include-method-regex = {toml_str('^(' + method + ')$')}"]
    inline = ", ".join(f"{toml_str(k)} = {{ dictionary = {toml_str(v)}, probability = {P} }}" for k, v in params.items())
    lines += [f"parameters = {{ {inline} }}", ""]

# A server's policy is a host agent's long poll: with `after_revision` it holds the request for
# up to `wait` seconds (30 by default), which generated requests would do on every case (pinning
# `wait` to 0 through `parameters` is not honoured by every phase). Those two operations are left
# to the HTTP suite, which checks their answers, parameters and refusals
# (tests/it/enforcement.rs, route_table.rs).
long_polls = r"/servers/\{server_id\}/policy$"
lines += ["[[operations]]", f"include-path-regex = {toml_str(long_polls)}", "enabled = false", ""]

with open(out, "w") as f:
    f.write("\n".join(lines))
print(f"seeded: organization {main}, network {net}, server {srv['id']}, {len(ips)} addresses", file=sys.stderr)
