//! Unit tests of the template module, through its public API.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    has_templates, render_str, render_value, Gres, TemplateError, Vars, MAX_JSON_DEPTH, MAX_NESTING,
};

fn args(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Render one string with a GRES instance and the given args.
fn r(t: &str, a: &[(&str, &str)]) -> Result<String, TemplateError> {
    let a = args(a);
    let vars = Vars {
        gres: Some(Gres {
            device: "0000:86:00.2",
            index: "3",
        }),
        args: &a,
    };
    render_str(t, &vars).map(Cow::into_owned)
}

fn ok(t: &str) -> String {
    r(
        t,
        &[("MASTER", "ens1f0"), ("K8S-POD", "pod-a"), ("EMPTY", "")],
    )
    .unwrap()
}

fn err(t: &str) -> String {
    match r(t, &[("MASTER", "ens1f0")]) {
        Ok(out) => panic!("{:.200} rendered {out:.200}, expected an error", t),
        Err(e) => {
            assert_eq!(e.path, "$");
            e.reason
        }
    }
}

fn err_has(t: &str, want: &str) {
    let reason = err(t);
    assert!(
        reason.contains(want),
        "{:.200}: {reason:?} lacks {want:?}",
        t
    );
}

// --- upstream's documented examples, unchanged -------------------------

#[test]
fn upstream_sriov_device_id() {
    let a = args(&[]);
    let vars = Vars {
        gres: Some(Gres {
            device: "0000:86:00.2",
            index: "0",
        }),
        args: &a,
    };
    let mut conf = json!({"type": "sriov", "deviceID": "{{.Gres.Device}}"});
    assert!(has_templates(&conf));
    render_value(&mut conf, &vars).unwrap();
    assert_eq!(conf, json!({"type": "sriov", "deviceID": "0000:86:00.2"}));
}

#[test]
fn upstream_macvlan_master_with_and_without_arg() {
    let t = "{{if .Args.MASTER}}{{.Args.MASTER}}{{else}}eno1{{end}}";
    assert_eq!(r(t, &[("MASTER", "ens1f0")]).unwrap(), "ens1f0");
    assert_eq!(r(t, &[]).unwrap(), "eno1");
    assert_eq!(r(t, &[("MASTER", "")]).unwrap(), "eno1");

    let a = args(&[("MASTER", "ens1f0")]);
    let vars = Vars {
        gres: None,
        args: &a,
    };
    let mut conf = json!({"type": "macvlan", "master": t});
    render_value(&mut conf, &vars).unwrap();
    assert_eq!(conf, json!({"type": "macvlan", "master": "ens1f0"}));
}

#[test]
fn upstream_index_for_dashed_keys() {
    assert_eq!(ok(r#"{{index .Args "K8S-POD"}}"#), "pod-a");
    assert_eq!(ok(r#"{{index .Args "MISSING-DASH"}}"#), "");
}

#[test]
fn upstream_test_cases() {
    let a = args(&[("ALIAS", "rdma2"), ("KEY-WITH-DASH", "dash-value")]);
    let vars = Vars {
        gres: Some(Gres {
            device: "dev0",
            index: "2",
        }),
        args: &a,
    };
    let mut conf = json!({
        "type": "plugin",
        "labels": ["{{.Gres.Index}}", "fixed"],
        "nested": {"alias": "{{.Args.ALIAS}}"},
        "alias2": "{{if .Args.NOPE}}{{.Args.NOPE}}{{else}}rdma{{.Gres.Index}}{{end}}",
        "dashed": "{{index .Args \"KEY-WITH-DASH\"}}",
        "missing": "{{.Args.MISSING}}",
        "big": 9007199254740993u64,
        "huge": 18446744073709551615u64
    });
    render_value(&mut conf, &vars).unwrap();
    assert_eq!(
        conf,
        json!({
            "type": "plugin",
            "labels": ["2", "fixed"],
            "nested": {"alias": "rdma2"},
            "alias2": "rdma2",
            "dashed": "dash-value",
            "missing": "",
            "big": 9007199254740993u64,
            "huge": 18446744073709551615u64
        })
    );
}

// --- data ---------------------------------------------------------------

#[test]
fn gres_fields_and_static_pipeline() {
    assert_eq!(ok("{{.Gres.Device}}/{{.Gres.Index}}"), "0000:86:00.2/3");
    assert_eq!(ok("{{$.Gres.Index}}"), "3");
    let a = args(&[]);
    let vars = Vars {
        gres: None,
        args: &a,
    };
    let out = render_str("[{{.Gres.Device}}|{{.Gres.Index}}]", &vars).unwrap();
    assert_eq!(out, "[|]");
    // .Gres is a struct: true even without a device, as in Go.
    let out = render_str("{{if .Gres}}y{{end}}{{if .Gres.Device}}n{{end}}", &vars).unwrap();
    assert_eq!(out, "y");
}

#[test]
fn missing_args_render_empty() {
    assert_eq!(ok("a{{.Args.NOPE}}b"), "ab");
    assert_eq!(ok("{{.Args.EMPTY}}"), "");
    assert_eq!(ok("{{index .Args \"nope\"}}"), "");
    assert_eq!(ok("{{if .Args}}some{{end}}"), "some");
    assert_eq!(
        r("{{if .Args}}some{{else}}none{{end}}", &[]).unwrap(),
        "none"
    );
    assert_eq!(ok("{{len .Args}}"), "3");
    // `index` with no keys is the map itself, which cannot be printed.
    err_has("{{index .Args}}", "cannot render .Args");
}

#[test]
fn with_sets_dot() {
    assert_eq!(ok("{{with .Args.MASTER}}[{{.}}]{{end}}"), "[ens1f0]");
    assert_eq!(ok("{{with .Args.NOPE}}[{{.}}]{{else}}none{{end}}"), "none");
    assert_eq!(
        ok("{{with .Args.NOPE}}a{{else with .Args.MASTER}}{{.}}{{$.Gres.Index}}{{end}}"),
        "ens1f03"
    );
    assert_eq!(ok("{{with .Gres}}{{.Device}}{{end}}"), "0000:86:00.2");
}

// --- control flow -------------------------------------------------------

#[test]
fn if_else_if_chains() {
    let t =
        "{{if eq .Gres.Index \"0\"}}zero{{else if eq .Gres.Index \"3\"}}three{{else}}other{{end}}";
    assert_eq!(ok(t), "three");
    let t = "{{if .Args.A}}a{{else if .Args.B}}b{{else if .Args.MASTER}}m{{end}}!";
    assert_eq!(ok(t), "m!");
    assert_eq!(r(t, &[]).unwrap(), "!");
    assert_eq!(ok("{{if 0}}x{{else}}y{{end}}{{if 7}}z{{end}}"), "yz");
    assert_eq!(ok("{{if false}}x{{end}}{{if true}}t{{end}}"), "t");
    assert_eq!(ok("{{if \"\"}}x{{end}}{{if \"a\"}}a{{end}}"), "a");
    assert_eq!(
        ok("{{if .Args.MASTER}}{{if .Args.NOPE}}1{{else}}2{{end}}{{end}}"),
        "2"
    );
}

#[test]
fn functions() {
    assert_eq!(ok("{{or .Args.NOPE \"eno1\"}}"), "eno1");
    assert_eq!(ok("{{or .Args.MASTER \"eno1\"}}"), "ens1f0");
    assert_eq!(ok("{{and .Args.MASTER .Gres.Index}}"), "3");
    assert_eq!(ok("{{and .Args.NOPE .Gres.Index}}|"), "|");
    // Short circuit: the bad field is never evaluated (Go >= 1.18).
    assert_eq!(ok("{{and false .Gres.Nope}}"), "false");
    assert_eq!(ok("{{or true .Gres.Nope}}"), "true");
    assert_eq!(ok("{{not .Args.NOPE}} {{not 1}}"), "true false");
    assert_eq!(ok("{{len .Gres.Device}} {{len \"\"}}"), "12 0");
    assert_eq!(ok("{{len \"é\"}}"), "2");
    assert_eq!(ok("{{eq .Gres.Index \"1\" \"2\" \"3\"}}"), "true");
    assert_eq!(
        ok("{{eq 1 1}} {{eq true false}} {{ne \"a\" \"b\"}}"),
        "true false true"
    );
    assert_eq!(ok("{{eq \"a\" \"a\" 1}}"), "true");
    assert_eq!(
        ok("{{lt 1 2}} {{le 2 2}} {{gt \"b\" \"a\"}} {{ge \"a\" \"b\"}}"),
        "true true true false"
    );
    assert_eq!(ok("{{if gt (len .Args.MASTER) 3}}long{{end}}"), "long");
    assert_eq!(
        ok("{{printf \"%s-%d-%v\" .Gres.Device 7 true}}"),
        "0000:86:00.2-7-true"
    );
    assert_eq!(ok("{{printf \"100%%\"}}"), "100%");
    assert_eq!(ok("{{printf \"%d\" \"x\"}}"), "%!d(string=x)");
    assert_eq!(ok("{{printf \"%s\" 5}}"), "%!s(int=5)");
    assert_eq!(ok("{{printf \"%s %s\" \"a\"}}"), "a %!s(MISSING)");
    assert_eq!(
        ok("{{printf \"%s\" \"a\" 1 true}}"),
        "a%!(EXTRA int=1, bool=true)"
    );
}

#[test]
fn pipelines_and_parens() {
    assert_eq!(ok("{{.Args.MASTER | len}}"), "6");
    assert_eq!(ok("{{.Args.MASTER|printf \"<%s>\"}}"), "<ens1f0>");
    assert_eq!(ok("{{\"3\" | eq .Gres.Index}}"), "true");
    assert_eq!(ok("{{not (eq (len .Args.NOPE) 0)}}"), "false");
    assert_eq!(ok("{{(.Gres.Device)}}"), "0000:86:00.2");
    assert_eq!(ok("{{or .Args.NOPE | not}}"), "true");
}

#[test]
fn literals_and_escapes() {
    assert_eq!(ok(r#"{{"a\tb\n\"q\"\\"}}"#), "a\tb\n\"q\"\\");
    assert_eq!(ok(r#"{{"\x41\101\u00e9\U0001F600"}}"#), "AAé😀");
    assert_eq!(ok("{{`raw \\n {{ }}`}}"), "raw \\n {{ }}");
    assert_eq!(ok("{{\"}}\"}}"), "}}");
    assert_eq!(ok("{{-3}} {{+4}} {{0}}"), "-3 4 0");
    assert_eq!(ok("{{true}}"), "true");
    assert_eq!(ok("ünïcødé {{.Args.MASTER}} ✓"), "ünïcødé ens1f0 ✓");
}

#[test]
fn trim_markers_and_comments() {
    assert_eq!(ok("a  {{- .Gres.Index -}}  b"), "a3b");
    assert_eq!(ok("a \n\t{{- .Gres.Index}} b"), "a3 b");
    assert_eq!(ok("a {{.Gres.Index -}}\n b"), "a 3b");
    assert_eq!(ok("x {{- /* note */ -}} y"), "xy");
    assert_eq!(ok("x{{/* multi\nline */}}y"), "xy");
    assert_eq!(
        ok("{{if .Args.MASTER -}}\n  {{.Args.MASTER}}\n{{- else -}}\n  eno1\n{{- end}}"),
        "ens1f0"
    );
    // "{{-3}}" is the number -3, not a trim marker (Go needs a space).
    assert_eq!(ok("a {{-3}}"), "a -3");
    // Newlines inside actions are white space.
    assert_eq!(ok("{{if\n.Args.MASTER\n}}y{{end}}"), "y");
}

#[test]
fn plain_text_is_untouched_and_borrowed() {
    let a = args(&[]);
    let vars = Vars {
        gres: None,
        args: &a,
    };
    for t in ["", "plain", "}} only", "{ {", "a { b } c", "{\"x\"}"] {
        assert!(matches!(render_str(t, &vars).unwrap(), Cow::Borrowed(s) if s == t));
    }
}

// --- JSON walk ----------------------------------------------------------

#[test]
fn keys_and_non_strings_are_not_rendered() {
    let a = args(&[("MASTER", "m")]);
    let vars = Vars {
        gres: None,
        args: &a,
    };
    let mut conf = json!({
        "{{.Args.MASTER}}": "{{.Args.MASTER}}",
        "n": 1, "f": 1.5, "b": true, "z": null, "e": [], "o": {}
    });
    render_value(&mut conf, &vars).unwrap();
    assert_eq!(
        conf,
        json!({
            "{{.Args.MASTER}}": "m",
            "n": 1, "f": 1.5, "b": true, "z": null, "e": [], "o": {}
        })
    );
    let plain = json!({"{{k}}": 1, "a": ["x", {"b": 2}]});
    assert!(!has_templates(&plain));
    let mut copy = plain.clone();
    render_value(&mut copy, &vars).unwrap();
    assert_eq!(copy, plain);
    assert!(has_templates(&json!([1, [2, {"x": ["{{"]}]])));
}

#[test]
fn error_paths_are_exact() {
    let a = args(&[]);
    let vars = Vars {
        gres: None,
        args: &a,
    };
    let cases = [
        (
            json!({"ipam": {"ranges": [["ok", "{{.Nope}}"]]}}),
            r#"$["ipam"]["ranges"][0][1]"#,
        ),
        (json!("{{.Nope}}"), "$"),
        (json!([0, "{{.Nope}}"]), "$[1]"),
        (
            json!({"we\"ird\\key\n": ["{{"]}),
            r#"$["we\"ird\\key\n"][0]"#,
        ),
        (json!({"a": {"b": {"c": "{{end}}"}}}), r#"$["a"]["b"]["c"]"#),
    ];
    for (mut conf, path) in cases {
        let e = render_value(&mut conf, &vars).unwrap_err();
        assert_eq!(e.path, path);
        assert!(
            e.to_string().starts_with(&format!("{path}: template ")),
            "{e}"
        );
    }
}

#[test]
fn error_display_format() {
    let a = args(&[]);
    let vars = Vars {
        gres: None,
        args: &a,
    };
    let mut conf = json!({"ipam": {"ranges": [[{}, "x {{.Gres.Foo}}"]]}});
    let e = render_value(&mut conf, &vars).unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"$["ipam"]["ranges"][0][1]: template execution error at column 5: can't evaluate field Foo of .Gres: it has only Device and Index"#
    );
}

#[test]
fn no_json_injection() {
    let evil = r#"eth0","x":{"y"#;
    let a = args(&[("TEXT", r#"a"b\c</script>{"#)]);
    let vars = Vars {
        gres: Some(Gres {
            device: evil,
            index: "0",
        }),
        args: &a,
    };
    let mut conf =
        json!({"type": "sriov", "deviceID": "{{.Gres.Device}}", "note": ["{{.Args.TEXT}}"]});
    render_value(&mut conf, &vars).unwrap();
    assert_eq!(conf["deviceID"], json!(evil));
    assert_eq!(conf["note"][0], json!(r#"a"b\c</script>{"#));
    let text = serde_json::to_string(&conf).unwrap();
    let back: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(back, conf);
    let obj = back.as_object().unwrap();
    assert_eq!(obj.len(), 3);
    assert!(obj.contains_key("deviceID") && !obj.contains_key("x"));
}

#[test]
fn json_depth_is_bounded() {
    let a = args(&[]);
    let vars = Vars {
        gres: None,
        args: &a,
    };
    let mut deep = json!("{{.Gres.Index}}");
    for _ in 0..(MAX_JSON_DEPTH + 5) {
        deep = json!([deep]);
    }
    assert!(has_templates(&deep));
    let e = render_value(&mut deep, &vars).unwrap_err();
    assert!(e.reason.contains("nested deeper"), "{e}");
    assert_eq!(e.path, format!("${}", "[0]".repeat(MAX_JSON_DEPTH)));
    // Dropping serde_json's deep value recurses too; unwind it by hand.
    while let Value::Array(mut v) = deep {
        deep = v.pop().unwrap_or(Value::Null);
    }
}

// --- errors -------------------------------------------------------------

#[test]
fn unknown_fields_are_errors() {
    err_has("{{.Gres.Foo}}", "can't evaluate field Foo of .Gres");
    err_has(
        "{{.Foo}}",
        "can't evaluate field Foo: the data has only .Gres and .Args",
    );
    err_has("{{.Args.A.B}}", "can't evaluate field B in type string");
    err_has(
        "{{.Args.MASTER.B}}",
        "can't evaluate field B in type string",
    );
    err_has("{{.Gres.Device.X}}", "in type string");
    err_has("{{$.Nope}}", "can't evaluate field Nope");
    // Only when evaluated, as in Go:
    assert_eq!(ok("{{if false}}{{.Gres.Foo}}{{end}}ok"), "ok");
}

#[test]
fn syntax_errors() {
    err_has(
        "{{.Gres.Device",
        "syntax error at column 1: unclosed action",
    );
    err_has("ab {{", "column 4: unclosed action");
    err_has(
        "{{if .Args.MASTER}}x",
        "column 1: missing {{end}} for this {{if}}",
    );
    err_has("{{if .Args.MASTER}}x{{else}}y", "missing {{end}}");
    err_has(
        "{{with .Args.MASTER}}x",
        "missing {{end}} for this {{with}}",
    );
    err_has("x{{else}}", "column 2: unexpected {{else}}");
    err_has("x{{end}}", "column 2: unexpected {{end}}");
    err_has("{{if 1}}{{else}}{{else}}{{end}}", "found another else");
    err_has(
        "{{if 1}}{{else with 2}}{{end}}",
        "{{else with}} cannot continue a {{if}}",
    );
    err_has(
        "{{with 1}}{{else if 2}}{{end}}",
        "{{else if}} cannot continue a {{with}}",
    );
    err_has("{{end 1}}", "unexpected operand after end");
    err_has("{{if}}{{end}}", "missing value for if");
    err_has("{{}}", "missing value for command");
    err_has("{{ -}}", "missing value for command");
    err_has("{{.Args.MASTER |}}", "missing command after |");
    err_has("{{(.Args.MASTER}}", "unclosed left parenthesis");
    err_has("{{.Args.MASTER)}}", "unexpected right parenthesis");
    err_has("{{()}}", "missing value in parentheses");
    err_has("{{\"abc}}", "unterminated quoted string");
    err_has("{{`abc}}", "unterminated raw quoted string");
    err_has("{{\"a\nb\"}}", "unterminated quoted string");
    err_has(r#"{{"\q"}}"#, "invalid escape");
    err_has(r#"{{"\xff"}}"#, "byte escapes above");
    err_has(r#"{{"\ud800"}}"#, "invalid code point");
    err_has("{{/* x }}", "unclosed comment");
    err_has(
        "{{/* x */ .Args.MASTER}}",
        "comment ends before closing delimiter",
    );
    err_has("{{ /* x */}}", "unexpected character U+002F");
    err_has("{{.Args.KEY-WITH-DASH}}", "index .Args \"KEY-WITH-DASH\"");
    err_has("{{.Args.MASTER-}}", "trim marker needs a space");
    err_has("{{\"a\"\"b\"}}", "after an operand");
    err_has("{{1.5}}", "only decimal integers");
    err_has("{{0x10}}", "only decimal integers");
    err_has("{{007}}", "only decimal integers");
    err_has("{{99999999999999999999}}", "only decimal integers");
    err_has("{{-}}", "only decimal integers");
    err_has("{{.5}}", "only decimal integers");
    err_has("{{'a'}}", "character constants");
    err_has("{{nil}}", "nil is not supported");
    err_has("{{$x := 1}}", "variables are not supported");
    err_has("{{(.Gres).Device}}", "parenthesized pipeline");
    err_has("{{.Args.MASTER | \"x\"}}", "pipeline stage 2");
    err_has("{{.Args.MASTER | .}}", "pipeline stage 2");
    err_has("{{eq if 1}}", "unexpected keyword if");
    err_has("{{#}}", "unexpected character U+0023");
    // Syntax errors fail even in branches that are never taken.
    err_has("{{if false}}{{foo}}{{end}}", "function \"foo\" not defined");
}

#[test]
fn unsupported_constructs() {
    err_has("{{range .Args}}{{end}}", "{{range}} is not supported");
    err_has("{{template \"x\"}}", "{{template}} is not supported");
    err_has("{{define \"x\"}}{{end}}", "{{define}} is not supported");
    err_has("{{block \"x\" .}}{{end}}", "{{block}} is not supported");
    err_has("{{break}}", "{{break}} is not supported");
    err_has("{{print 1}}", "function \"print\" is not supported");
    err_has(
        "{{urlquery .Args.MASTER}}",
        "function \"urlquery\" is not supported",
    );
    err_has("{{lower .Args.MASTER}}", "function \"lower\" not defined");
    err_has("{{.}}", "cannot render the root data");
    err_has("{{.Gres}}", "cannot render .Gres");
    err_has("{{$}}", "cannot render the root data");
    err_has("{{.Args}}", "cannot render .Args");
    err_has("{{printf \"%x\" 1}}", "only the verbs");
    err_has("{{printf \"%5s\" 1}}", "only the verbs");
    err_has("{{printf \"%\"}}", "only the verbs");
    err_has("{{printf \"%v\" .Args}}", "cannot format .Args");
}

#[test]
fn evaluation_errors() {
    err_has("{{not}}", "wrong number of args for not: want 1 got 0");
    err_has("{{not 1 2}}", "wrong number of args for not: want 1 got 2");
    err_has("{{len}}", "wrong number of args for len");
    err_has("{{ne 1}}", "wrong number of args for ne: want 2 got 1");
    err_has(
        "{{and}}",
        "wrong number of args for and: want at least 1 got 0",
    );
    err_has("{{index}}", "want at least 1");
    err_has("{{printf}}", "wrong number of args for printf");
    err_has("{{eq 1}}", "missing argument for comparison");
    err_has("{{eq 1 \"1\"}}", "incompatible types for comparison");
    err_has("{{eq .Args .Args}}", "invalid type for comparison");
    err_has("{{lt true false}}", "invalid type for comparison");
    err_has("{{lt 1 \"a\"}}", "incompatible types");
    err_has("{{len 3}}", "len of int");
    err_has("{{len .Gres}}", "len of .Gres");
    err_has(
        "{{index .Gres \"Device\"}}",
        "can't index item of type .Gres",
    );
    err_has("{{index .Args 1}}", "a key of .Args must be a string");
    err_has(
        "{{index .Args.MASTER 0}}",
        "can't index item of type string",
    );
    err_has("{{printf 1}}", "the format must be a string");
    err_has("{{\"a\" 1}}", "can't give arguments to a string literal");
    err_has("{{.Args.MASTER 1}}", "can't give arguments to .Args.MASTER");
    err_has(
        "{{.Args.MASTER | .Args.X}}",
        "can't give arguments to .Args.X",
    );
    // Evaluated in order: the error comes before the match.
    err_has("{{eq \"a\" 1 \"a\"}}", "incompatible types");
}

#[test]
fn errors_name_the_column_and_never_leak_text() {
    let reason = err("token=super-secret {{if .Gres.Device}}");
    assert!(reason.contains("column 20"), "{reason}");
    assert!(!reason.contains("secret"), "{reason}");
    let reason = err("token=super-secret {{.Gres.Missing}}");
    assert!(!reason.contains("secret"), "{reason}");
    let reason = err("{{eq .Args.X \"super-secret\" 1}}");
    assert!(!reason.contains("secret"), "{reason}");
    let reason = err("{{\"super-secret\" 1}}");
    assert!(!reason.contains("secret"), "{reason}");
    // Columns count characters, not bytes.
    let reason = err("é✓😀 {{.Nope}}");
    assert!(reason.contains("column 7"), "{reason}");
}

#[test]
fn nesting_is_bounded() {
    let deep_if = "{{if 1}}".repeat(MAX_NESTING + 1) + &"{{end}}".repeat(MAX_NESTING + 1);
    err_has(&deep_if, "nested deeper than 100");
    let ok_if = "{{if 1}}".repeat(MAX_NESTING) + "x" + &"{{end}}".repeat(MAX_NESTING);
    assert_eq!(ok(&ok_if), "x");
    let parens = format!("{{{{{}1{}}}}}", "(".repeat(5000), ")".repeat(5000));
    err_has(&parens, "nested deeper than 100");
    let chain = format!("{}x{{{{end}}}}", "{{if 0}}{{else if 0}}".repeat(2000));
    err_has(&chain, "nested deeper");
    // A long else-if chain is not nesting.
    let long = format!("{{{{if 0}}}}{}x{{{{end}}}}", "{{else if 0}}".repeat(5000));
    assert_eq!(ok(&long), "");
    let long = format!(
        "{{{{if 0}}}}{}{{{{else}}}}x{{{{end}}}}",
        "{{else if 0}}".repeat(5000)
    );
    assert_eq!(ok(&long), "x");
}

#[test]
fn huge_strings() {
    let text = "ab".repeat(500_000);
    let t = format!("{text}{{{{.Gres.Index}}}}{text}");
    assert_eq!(ok(&t).len(), 2_000_001);
    let many = "{{.Gres.Index}}".repeat(100_000);
    assert_eq!(ok(&many), "3".repeat(100_000));
    let open = "{{".repeat(100_000);
    // Go: the second "{{" is an unrecognized character in the first action.
    err_has(&open, "column 3: unexpected character U+007B");
}

/// `tests/fixtures/template/go-recorded.json`: results recorded from Go
/// 1.19's text/template (see the README.md next to it).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GoRecorded {
    /// How the cases were recorded, for readers of the file.
    #[allow(dead_code)]
    about: String,
    vars: GoVars,
    cases: Vec<GoCase>,
}

/// The data Go executed the templates with.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct GoVars {
    gres: GoGres,
    args: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct GoGres {
    device: String,
    index: String,
}

/// One template, with `.Gres` set (`gres`) or zero, and what Go did.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GoCase {
    template: String,
    gres: bool,
    expect: Expect,
    /// Go's output, for `renders` and `rejected`.
    output: Option<String>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Expect {
    /// Go renders `output`; meta-cni must render the same.
    Renders,
    /// Go fails; meta-cni must fail.
    Fails,
    /// Go renders `output`; meta-cni fails on purpose (a documented exclusion).
    Rejected,
}

fn go_recorded() -> GoRecorded {
    let text = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/template/go-recorded.json"
    ));
    serde_json::from_str(text).unwrap()
}

#[test]
fn agrees_with_go_text_template() {
    let go = go_recorded();
    assert!(!go.cases.is_empty());
    let a = go.vars.args;
    let mut wrong = Vec::new();
    for case in &go.cases {
        let (t, with_gres) = (case.template.as_str(), case.gres);
        let output = case.output.as_deref();
        assert_eq!(
            output.is_some(),
            !matches!(case.expect, Expect::Fails),
            "{t:?}: `output` goes with renders and rejected only"
        );
        let gres = with_gres.then_some(Gres {
            device: &go.vars.gres.device,
            index: &go.vars.gres.index,
        });
        let got = render_str(t, &Vars { gres, args: &a });
        let right = match (case.expect, &got) {
            (Expect::Renders, Ok(o)) => output == Some(o.as_ref()),
            (Expect::Fails | Expect::Rejected, Err(_)) => true,
            _ => false,
        };
        if !right {
            let go = match output {
                Some(w) => format!("Go renders {w:?}"),
                None => "Go fails".to_owned(),
            };
            wrong.push(format!("{t:?} gres={with_gres}: {go}, got {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// xorshift64*: tiny deterministic generator for the property test.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }
}

#[test]
fn random_inputs_never_panic() {
    const PIECES: &[&str] = &[
        "{{",
        "}}",
        "{{- ",
        " -}}",
        "-}}",
        "{{/*",
        "*/}}",
        " ",
        "\n",
        "\t",
        "if ",
        "else ",
        "end",
        "with ",
        "range ",
        ".",
        ".Gres",
        ".Device",
        ".Index",
        ".Args",
        ".MASTER",
        ".Nope",
        "$",
        "$x",
        "index ",
        "eq ",
        "ne ",
        "lt ",
        "and ",
        "or ",
        "not ",
        "len ",
        "printf ",
        "\"%s\"",
        "\"%d%%\"",
        "\"K8S-POD\"",
        "\"a\\\"b\"",
        "\"\\u00e9\"",
        "\"\\x4",
        "\"",
        "`raw`",
        "`",
        "(",
        ")",
        "|",
        "-",
        "+",
        "0",
        "7",
        "-3",
        "007",
        "1.5",
        "true",
        "false",
        "nil",
        "'",
        "é",
        "😀",
        "x",
        ":=",
        ",",
        "#",
        "\\",
        "\u{0}",
        "\r",
    ];
    let a = args(&[("MASTER", "m"), ("K8S-POD", "p"), ("", "empty-key")]);
    for gres in [
        None,
        Some(Gres {
            device: "d\"},",
            index: "0",
        }),
    ] {
        let vars = Vars { gres, args: &a };
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..20_000 {
            let n = 1 + rng.below(24);
            let mut s = String::new();
            for _ in 0..n {
                s.push_str(PIECES[rng.below(PIECES.len())]);
            }
            // Also cut at a random byte (lossy) to get truncated inputs.
            let cut = rng.below(s.len() + 1);
            let truncated = String::from_utf8_lossy(&s.as_bytes()[..cut]).into_owned();
            for t in [&s, &truncated] {
                let mut conf = json!({"k": [t, {"n": t}]});
                match render_value(&mut conf, &vars) {
                    Ok(()) => {
                        // Output is still the same shape and re-parses.
                        let text = serde_json::to_string(&conf).unwrap();
                        let back: Value = serde_json::from_str(&text).unwrap();
                        assert_eq!(back, conf);
                        assert!(conf["k"][0].is_string() && conf["k"][1]["n"].is_string());
                    }
                    Err(e) => {
                        assert!(
                            e.path == r#"$["k"][0]"# || e.path == r#"$["k"][1]["n"]"#,
                            "{e}"
                        );
                        assert!(e.reason.contains("column "), "{e}");
                    }
                }
            }
        }
    }
}
