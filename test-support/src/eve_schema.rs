//! Suricata 8's EVE schema (read from the shared folder; it is
//! GPL-covered data and is not copied into this repository) extended only by
//! virga's published objects (docs/eve-virga-extension.schema.json):
//! `stats.virga`, and `alert.context.virga` (its `$defs.alert_context_virga`),
//! which closes the stock schema's open `alert.context` for virga's member.

use serde_json::Value;
use std::path::Path;

/// The extended EVE schema, compiled; None (with a note) when
/// `shared/eve/suricata-eve-schema.json` is absent on a bare clone (a
/// failure in CI).
pub fn eve_validator(shared: &Path) -> Option<jsonschema::Validator> {
    let file = shared.join("eve/suricata-eve-schema.json");
    let Ok(text) = std::fs::read_to_string(&file) else {
        // A note on a bare clone; a failure in CI.
        return crate::missing(&file);
    };
    let mut schema: Value = serde_json::from_str(&text).expect("schema is JSON");
    let ext: Value = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/eve-virga-extension.schema.json"
    )))
    .expect("extension is JSON");
    let alert_context = ext["$defs"]["alert_context_virga"].clone();
    assert!(
        alert_context.is_object(),
        "extension lacks $defs.alert_context_virga"
    );
    let context = &mut schema["properties"]["alert"]["properties"]["context"];
    assert!(context.is_object(), "stock schema lacks alert.context");
    context["properties"]["virga"] = alert_context;
    schema["properties"]["stats"]["properties"]["virga"] = ext;
    Some(jsonschema::validator_for(&schema).expect("schema compiles"))
}

/// The schema errors of one event, as text (empty when valid).
pub fn schema_errors(v: &jsonschema::Validator, event: &Value) -> Vec<String> {
    v.iter_errors(event)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect()
}

/// `Err` naming every schema complaint about one event.
pub fn schema_result(v: &jsonschema::Validator, event: &Value) -> Result<(), String> {
    let errors = schema_errors(v, event);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("not valid EVE: {}", errors.join("; ")))
    }
}
