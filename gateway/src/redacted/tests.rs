//! Tests of [`Redacted`]: hidden from `Debug`, untouched by serde.

use super::Redacted;

#[test]
fn debug_prints_redacted_and_serde_sees_the_value() {
    let secret = Redacted("hunter2".to_owned());
    assert_eq!(format!("{secret:?}"), "REDACTED");
    assert_eq!(
        format!("{:?}", Some(vec![secret.clone()])),
        "Some([REDACTED])"
    );
    assert_eq!(serde_json::to_value(&secret).unwrap(), "hunter2");
    let back: Redacted<String> = serde_json::from_value(serde_json::json!("hunter2")).unwrap();
    assert_eq!(back, secret);
    assert_eq!(back.len(), 7, "derefs to the value");
}
