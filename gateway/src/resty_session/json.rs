//! JSON encoding the way OpenResty's lua-cjson writes it, so that a session's plaintext (and therefore its
//! `data_size`, chunking and deflate decisions) is the same length as the one lua-resty-session would make.
//!
//! Used when a session is saved. Decoding needs no such care: plaintexts are parsed with `serde_json`
//! and never compared as bytes (cjson's object key order is Lua hash order, so it is not stable anyway).
//!
//! What differs from `serde_json::to_vec`:
//! * `/` is escaped as `\/`, and DEL (0x7f) as `\u007f` (lua-cjson `char2escape`);
//! * an empty array is written `{}` — Lua has one table type and cjson writes an empty table as an object;
//! * numbers are Lua doubles written with `%.14g` (cjson's default `encode_number_precision` of 14), so
//!   `7` stays `7` but `12345678901234567` becomes `1.2345678901235e+16`.

use serde_json::{Number, Value};

/// Encodes `value` as lua-cjson would encode the equivalent Lua table.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    write_value(value, &mut out);
    out
}

fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => write_array(items, out),
        Value::Object(map) => {
            out.push(b'{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write_value(item, out);
            }
            out.push(b'}');
        }
    }
}

/// Encodes a Lua sequence (an empty one is written `{}`, like any empty Lua table).
pub(crate) fn encode_array(items: &[Value]) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    write_array(items, &mut out);
    out
}

fn write_array(items: &[Value], out: &mut Vec<u8>) {
    if items.is_empty() {
        out.extend_from_slice(b"{}");
        return;
    }
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_value(item, out);
    }
    out.push(b']');
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            0x08 => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0x00..=0x1f | 0x7f => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0x0f)]);
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

fn write_number(n: &Number, out: &mut Vec<u8>) {
    // Lua numbers are doubles: integers are converted first, exactly as LuaJIT would hold them.
    let x = if let Some(i) = n.as_i64() {
        i as f64
    } else if let Some(u) = n.as_u64() {
        u as f64
    } else {
        n.as_f64().unwrap_or(0.0)
    };
    out.extend_from_slice(format_g14(x).as_bytes());
}

/// C's `printf("%.14g", x)` for a finite double.
pub(crate) fn format_g14(x: f64) -> String {
    const PRECISION: i32 = 14;
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0".to_owned()
        } else {
            "0".to_owned()
        };
    }
    // Round to 14 significant digits first: the exponent after rounding picks the notation.
    let sci = format!("{:.*e}", (PRECISION - 1) as usize, x);
    let (mantissa, exponent) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    if !(-4..PRECISION).contains(&exponent) {
        let mut s = strip_fraction_zeros(mantissa).to_owned();
        s.push('e');
        s.push(if exponent < 0 { '-' } else { '+' });
        let abs = exponent.unsigned_abs();
        if abs < 10 {
            s.push('0');
        }
        s.push_str(&abs.to_string());
        s
    } else {
        let decimals = (PRECISION - 1 - exponent).max(0) as usize;
        strip_fraction_zeros(&format!("{x:.decimals$}")).to_owned()
    }
}

fn strip_fraction_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}
