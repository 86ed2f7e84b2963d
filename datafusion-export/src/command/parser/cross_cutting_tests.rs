//! Tests across all command families: valid commands, serde round trips, no panics.

use super::parse_command;
use super::test_util::{export, external, parse, STORAGE_EXAMPLE};
use crate::command::ast::{ExportCommand, ExternalTableDef};

#[test]
fn external_table_def_serde_round_trip() {
    let def = external(STORAGE_EXAMPLE);
    let json = serde_json::to_string(&def).unwrap();
    let back: ExternalTableDef = serde_json::from_str(&json).unwrap();
    assert_eq!(back, def);
    // Obfuscation survives the round trip; Debug stays redacted.
    assert!(back.urls[1].is_obfuscated());
    assert!(!format!("{back:?}").contains("KEY"));
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["mode"], "create");
    assert_eq!(value["kind"], "storage");
    assert_eq!(value["data_format"], "parquet");
    assert_eq!(value["columns"][0]["kusto_type"], "long");
    assert_eq!(value["partitions"][0]["expr"]["column"], "s");
    assert_eq!(
        value["partitions"][1]["expr"]["bin"]["step"]["timespan"]["secs"],
        86_400
    );
    assert_eq!(value["partitions"][2]["expr"]["start_of"]["unit"], "day");
    assert_eq!(value["partitions"][3]["expr"]["hash"]["modulo"], 16);
    assert_eq!(value["path_format"][1]["partition"], "Region");
    assert_eq!(
        value["path_format"][3]["datetime_pattern"]["pattern"],
        "yyyy/MM/dd"
    );
    assert_eq!(
        value["urls"][1],
        serde_json::json!({"value": "https://acct.blob.core.windows.net/c/y;KEY", "obfuscated": true})
    );
    let delta =
        external(".alter external table D kind=delta ('/d') with (x=1.5, y=true, z=10m, w=id)");
    let back: ExternalTableDef =
        serde_json::from_str(&serde_json::to_string(&delta).unwrap()).unwrap();
    assert_eq!(back, delta);
    let e = export(".export to table X with (a=h'sec') <| T");
    let back: ExportCommand = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
    assert_eq!(back, e);
}

const VALID: &[&str] = &[
    ".show tables",
    ".show table T",
    ".show table ['x y'] schema",
    ".show table T extents;",
    ".drop table T ifexists",
    ".drop table \"T\" if exists",
    ".create table T (a:long, ['b c']:string, d:datetime)",
    ".append T with (a=1, b='x', c=true, d=10m, e=csv, f=00:10:00) <| select 1",
    ".set-or-append T <| select 'é😀' from t",
    ".ingest into table T ('https://a/b.csv', h'https://c?sig=x', @'C:\\x', h@\"y\") with (format=csv, z=-1.5)",
    ".export async compressed to csv (h@\"https://s.blob.core.windows.net/c;k\", 'x') with (sizeLimit=100000, namePrefix=export) <| myLogs | where id == \"moshe\" | limit 10000",
    ".export to table Ext with (a=1) <| select 1",
    ".create external table X (a:long, s:string, ts:datetime) kind = storage partition by (Region:string = s, Day:datetime = bin(ts, 1d), Hour:datetime = startofday(ts), Bucket:long = hash(a, 16), P:string, N:long = bin(a, 10)) pathformat = (\"region=\" Region \"/\" datetime_pattern(\"yyyy/MM/dd\", Day) \"/\" Hour \"/\" Bucket \"/\" P \"/\" N) dataformat = parquet ('u1', h@'u2') with (fileExtension='.p', includeHeaders='none')",
    ".create-or-alter external table D kind=delta ('/d') with (x=1)",
    ".create or alter external table D (a:long) kind=delta ('/d')",
    ".alter external table ['x'] (a:long) kind=storage dataformat=csv ('u')",
    ".drop external table X ifexists",
    ".show external tables",
    ".show external table X cslschema",
    ".show operations",
    ".show operation f008dc1e-2710-47d8-8d34-0d562f5f8615 details",
    ".show operation 'f008dc1e-2710-47d8-8d34-0d562f5f8615'",
    ".create-or-alter continuous-export E over (T1, T2) to table X with (intervalBetweenRuns=1h) <| T1 | join T2",
    ".show continuous-exports",
    ".show continuous-export E exported-artifacts",
    ".show continuous-export E failures",
    ".enable continuous-export E",
    ".disable continuous-export E",
    ".drop continuous-export E ifexists",
    ".run continuous-export E",
    "/* c */ .show tables // x",
    "select 1",
];

#[test]
fn valid_commands_parse() {
    for text in VALID {
        parse(text);
    }
}

#[test]
fn no_panic_on_prefixes_and_mutations() {
    for text in VALID {
        for (i, _) in text.char_indices() {
            let _ = parse_command(&text[..i]);
            let _ = parse_command(&text[i..]);
            let mut mutated = String::from(&text[..i]);
            mutated.push_str("'\u{1F600}");
            mutated.push_str(&text[i..]);
            let _ = parse_command(&mutated);
        }
    }
}

#[test]
fn no_panic_on_random_input() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as u32
    };
    let pieces = [
        ".",
        "show",
        "table",
        "tables",
        "create",
        "drop",
        "append",
        "set-or-append",
        "ingest",
        "into",
        "with",
        "ifexists",
        "extents",
        "schema",
        "T",
        "(",
        ")",
        "[",
        "]",
        ",",
        ":",
        "=",
        "<|",
        "<",
        "|",
        "'x'",
        "h'",
        "h@",
        "@",
        "\"",
        "'",
        "`",
        ";",
        "--",
        "//",
        "/*",
        "*/",
        "/*!",
        "\n",
        "\r\n",
        " ",
        "\t",
        "1",
        "10m",
        "1.5",
        "00:10:00",
        "-",
        "é",
        "日本",
        "😀",
        "long",
        "string",
        "lng",
        "true",
        "_",
        "$",
        "#",
        "\\",
        "e'",
        "N'",
        "x'",
        "$$",
        "?",
        "\u{0}",
        "\u{feff}",
        "\u{2028}",
        "export",
        "async",
        "compressed",
        "to",
        "csv",
        "parquet",
        "external",
        "kind",
        "storage",
        "delta",
        "partition",
        "by",
        "pathformat",
        "dataformat",
        "datetime_pattern(",
        "bin(",
        "hash(",
        "startofday(",
        "1d",
        "16",
        "2147483648",
        "0",
        "alter",
        "or",
        "create-or-alter",
        "continuous-export",
        "continuous-exports",
        "exported-artifacts",
        "failures",
        "over",
        "enable",
        "run",
        "operation",
        "operations",
        "details",
        "f008dc1e-2710-47d8-8d34-0d562f5f8615",
        "f008dc1e",
        "'yyyy'",
        "D:datetime",
    ];
    for _ in 0..5000 {
        let n = (next() % 16) as usize;
        let mut text = String::new();
        if next() % 2 == 0 {
            text.push('.');
        }
        for _ in 0..n {
            text.push_str(pieces[(next() as usize) % pieces.len()]);
            if next() % 3 == 0 {
                text.push(' ');
            }
        }
        if let Err(e) = parse_command(&text) {
            assert!(e.line >= 1 && e.column >= 1, "{text:?}: {e:?}");
        }
        let len = (next() % 48) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let _ = parse_command(&String::from_utf8_lossy(&bytes));
        let mut dotted = String::from(".");
        dotted.push_str(&String::from_utf8_lossy(&bytes));
        let _ = parse_command(&dotted);
    }
}
