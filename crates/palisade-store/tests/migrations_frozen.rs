//! The migrations are frozen. sqlx refuses to open a database whose applied migrations have
//! other checksums than the build's, so a database created by an earlier release opens only if
//! every migration it ran is byte for byte the same. These are the SHA-384 checksums of the
//! migrations as released before the two store crates became one (`palisade-store-sqlite/` and
//! `palisade-store-postgres/` at commit cb57306); a changed byte fails here, not at a
//! customer's start-up. New schema changes go in new migrations, listed here once released
//! (since issue 12: 0006, policy revisions; 0007, typed rules; 0008, list indexes; issue 13: 0009,
//! sessions, jobs and ZStack's group state; 0010, network and interface members;
//! 0011, rules' ICMP types; servers in server groups: 0012, a server's server group; issue 15: 0013,
//! enforcement; issue 16: 0014, the audit trail;
//! issue 15: 0015, groups' rules versions; 0016, ZStack's unmatched egress; 0017, servers'
//! revisions; 0018, servers' versions).

use sqlx::migrate::Migrator;

const SQLITE: &[(i64, &str, &str)] = &[
    (
        1,
        "foundation",
        "2ae00c824d99376aa50eb3acd0783cfb51e8d8a84ab876a45820fdfaa2608d1c16a82b6936f537ecf5b422d230e5b49e",
    ),
    (
        2,
        "policy",
        "1916f5439a3019e3214d85e1c0fae9a9b3cae11b70b259e4081025a45ac8a3bd1bb1b2604e3606d54866166ee765045c",
    ),
    (
        3,
        "hosts",
        "94f7ec1fa23291715d3370f245ca732aea8065bd3f8f776812c4dafaa9f2157e30220f5fcc4145a55aac65ebcafa53e3",
    ),
    (
        4,
        "rule_serials",
        "24d08472fa8667a7875fc5ec56e219e67a89264e7654b32a669c96f714bb8152040bc81e8489b3105a37cdee20ac08a7",
    ),
    (
        5,
        "rule_numbers",
        "52d90337dda675b1946ae3e3bf31f5b3f7ac416d9e5ef3b2fa58575a69ab9b52760e85120916f912fef2646cb24f3463",
    ),
    (
        6,
        "policy_revisions",
        "dde3b2447b69dd5a1966fe2684271b9d438b5850ab44c8b2e148188e078c809073816ccf65303c7168abdc0b4a9be1e6",
    ),
    (
        7,
        "typed_rules",
        "710070666d30f3779725f13a0019fbb6fa6e48ae275881193758944e54df72518e7c032d7c7a470e970b78f7ea063f79",
    ),
    (
        8,
        "list_indexes",
        "e2a9288711916a720fa4faaa60187906c9324a3007faedab3eed84fee7c7a30ffacd6920f1c5eb2c14797835a67ca498",
    ),
    (
        9,
        "zstack",
        "e66e327696e28c0fbb040447dd13c23402d5bd1aaad720bd81daddd2c61e2513961208db902df3a6f4f169a7ba2fb022",
    ),
    (
        10,
        "member_kinds",
        "c3d4b80af885203c3bab807b68ae44c699ea33dc8aedb88a8f43377a1d4b01f915753f843415c08a788016d90c2fea04",
    ),
    (
        11,
        "icmp_types",
        "6a9e672f9a5b83939db1866a307fdb235e7b5522fd1b5297a94f704361a716b436afdda5b61b2472abc519d3fcd4057f",
    ),
    (
        12,
        "server_group_membership",
        "4f83c16b1268616297a7e18c57eb5ab9e43d03563b0338c71ea7c532a2aa5b856ea513e32f3a193d70a11df1dcdf1c1a",
    ),
    (
        13,
        "enforcement",
        "9b00bdc99751d657ab5a7a78cb10471f687b34811c591ded226717fb4f638a8cca1bd012664e5cf973a0136df6b5ae88",
    ),
    (
        14,
        "audit_events",
        "7fc459e657f67ed687a4bc0deebafca0748cdde4a4b962f387b092cc8fb8ce72980961179af8d361b24e628fde4e40d4",
    ),
    (
        15,
        "group_rules_versions",
        "79fe229b8ea5f3ebe9fb5e553151690dcdfc7bf368e0584ff07e76c44af11a2233cb2c5f5677a168a75ba43292a56b5c",
    ),
    (
        16,
        "unmatched_outbound",
        "8ebbe505a633819171537d7cd902c41db6105a7c695b9ab447355eea1e6169da48de0443591067f524a52ea41692d160",
    ),
    (
        17,
        "servers_revisions",
        "b787cbb3f98d27d82e621c48ab6b83c428c36280df9aa355c6c52ba685a3d8603585411a611714082c6e269a404ea396",
    ),
    (
        18,
        "server_versions",
        "485dcc0120f2bd295dcd21d1f4e25c914292d2d8b7cbaf14d6e9af4800cdc34a244df58dffa9c1c8a191ab6506b66e44",
    ),
];

const POSTGRES: &[(i64, &str, &str)] = &[
    (
        1,
        "foundation",
        "7f3ad1c8a4107a9e71fa7145045b6cdaab4d766fc89700e1f913c147d39fe7ee5d4570ff170dadd83f7ba98451d1ac15",
    ),
    (
        2,
        "policy",
        "3f614afba39055017e9eb986ca9c8a7de30030846389caf17f3e388aab005a47a92eb06ffdf2d8e11a090d1b35829cf2",
    ),
    (
        3,
        "hosts",
        "43cd722fd0fa55b0bdb6c115bbb610cd797f52648f20b83d4f21e51f8a25df41cfe35fcae441aff89fa48cc9f1ef31a1",
    ),
    (
        4,
        "rule_serials",
        "b798d7a88a0cf3bb6e1184e08f7365b8c3f158a470fa20092f0ed7310749e2d0df901f015ccd70777b473b15c4b4ea93",
    ),
    (
        5,
        "rule_numbers",
        "fc65a6acdbe2327ea7c83e0653829147ec14ff97d0411dafe5fedd949020f54f42548af5898ba4aca1dced878d5c7aa2",
    ),
    (
        6,
        "policy_revisions",
        "871ac72e8d76e89a4b1d6d026e106f7a7fe0a67421fdc7a5a05e6e176844f7b137259ac3567b9ccf23ef82658b0a047e",
    ),
    (
        7,
        "typed_rules",
        "090657dcb70a7f752e4cb81bc79ab5f71465cc278885b990d4964248c8bf0032486649ca17d337ff3ee08a88e3b386de",
    ),
    (
        8,
        "list_indexes",
        "eec23ad366e7605f54a4adc16cc83dffaceeb653b80dadbbd8be2d6540282931cbaac15c75fb12b11b297f7b0169c556",
    ),
    (
        9,
        "zstack",
        "5f2e53c3af20985201b37181e90667fcc1d14719cd38a08e7ffaf3a7319a31223553c01d5be3a3a4ee2b2f0cda6854b9",
    ),
    (
        10,
        "member_kinds",
        "127449acfb1a96efa199136dc0e2c33673fcec122169cb8b22dc2606c597ce08cdb953aabd47a443b34e03ceb8977b75",
    ),
    (
        11,
        "icmp_types",
        "f36f20fab28af43bae706c9668a11c74aad0550e00197a3ed11f5330246cd2ce41c0fbf0b761f29466d65b7996913e44",
    ),
    (
        12,
        "server_group_membership",
        "79de4c84398081417a114cfdf23817719e439d00a053b1823424c9df117542a8962a6e075eea10a12abaa8a6465a9413",
    ),
    (
        13,
        "enforcement",
        "78575cb82144e3e24c31cdadf415250e0060e93fc39f427906516912cc945d219ccb01bf87088f1e496689b104885174",
    ),
    (
        14,
        "audit_events",
        "215e1692abd5063d3bcbbe75b519f848e84f86a31343c28749d8e37930dc4940c334f294f12036875af272a52d18f449",
    ),
    (
        15,
        "group_rules_versions",
        "2811077e4cc5bb1de2c907d342286c06e069f32d1c88069fe4d8470d3986e2dadaafd07299e31c9819bc9c0b4222a1d1",
    ),
    (
        16,
        "unmatched_outbound",
        "93f47143c20182365f38ff21fb714a04d4fb98539248e3a26ead4789b23160dc540466241ad666cc01d116d7621f7442",
    ),
    (
        17,
        "servers_revisions",
        "6c914cb35a3ac223714416a838f90887e404e93d8785b720232c90d72ed18672664b4e5ca223f164bb8f494a562793aa",
    ),
    (
        18,
        "server_versions",
        "b92d2dee6a02453fd639efbb7307834cb97e0ed51cb60c251e850c833d7db5f29a9f578aafafc1329f72264844b55119",
    ),
];

fn assert_released(migrator: Migrator, released: &[(i64, &str, &str)]) {
    let found: Vec<(i64, String, String)> = migrator
        .iter()
        .map(|m| {
            let checksum = m.checksum.iter().map(|b| format!("{b:02x}")).collect();
            (m.version, m.description.to_string(), checksum)
        })
        .collect();
    let released: Vec<(i64, String, String)> =
        released.iter().map(|(v, d, c)| (*v, d.replace('_', " "), (*c).to_owned())).collect();
    assert_eq!(found, released);
}

#[test]
fn sqlite_migrations_are_those_released() {
    assert_released(sqlx::migrate!("./migrations/sqlite"), SQLITE);
}

#[test]
fn postgres_migrations_are_those_released() {
    assert_released(sqlx::migrate!("./migrations/postgres"), POSTGRES);
}
