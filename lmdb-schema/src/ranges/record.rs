//! Metadata records in the keyed form: `[<schema id>,v1,…,vn]` beside a schema record
//! `["k1",…,"kn"]` holding the keys once per distinct key list (format in [`super`]).
//!
//! Why: in GeoLite2-City metadata the key names are ~300 of an object's ~430 bytes, and 458k
//! objects share a few key lists. Reading needs no parse into a map: a byte scanner splits the
//! two arrays into their elements' JSON texts, which rebuild the object text exactly (keys and
//! values are stored as the object spelled them) or feed serde directly.

use serde::de::{DeserializeSeed, MapAccess};

/// Splits JSON text at its top-level separators: the elements of an array `[a,b]` or the
/// members of an object `{"k":v}` (each member one item, `"k":v`). Yields raw slices; `None`
/// from [`Items::next`] ends it, [`Items::error`] tells whether the text was cut or unbalanced.
pub struct Items<'a> {
    text: &'a [u8],
    at: usize,
    end: usize,
    pub error: bool,
}

impl<'a> Items<'a> {
    /// Items of `text`, which must be `[…]` or `{…}` (else no items and `error`).
    pub fn new(text: &'a [u8]) -> Items<'a> {
        let ok = text.len() >= 2 && matches!((text[0], text[text.len() - 1]), (b'[', b']') | (b'{', b'}'));
        Items { text, at: 1, end: if ok { text.len() - 1 } else { 0 }, error: !ok }
    }
}

impl<'a> Iterator for Items<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.at >= self.end {
            return None;
        }
        let start = self.at;
        let (mut depth, mut in_string, mut escaped) = (0u32, false, false);
        let mut i = start;
        while i < self.end {
            let c = self.text[i];
            if in_string {
                if escaped {
                    escaped = false;
                } else if c == b'\\' {
                    escaped = true;
                } else if c == b'"' {
                    in_string = false;
                }
            } else {
                match c {
                    b'"' => in_string = true,
                    b'[' | b'{' => depth += 1,
                    b']' | b'}' => {
                        if depth == 0 {
                            self.error = true;
                            self.at = self.end;
                            return None;
                        }
                        depth -= 1;
                    }
                    b',' if depth == 0 => break,
                    _ => {}
                }
            }
            i += 1;
        }
        if in_string || depth != 0 || i == start {
            self.error = true;
            self.at = self.end;
            return None;
        }
        self.at = i + 1;
        Some(&self.text[start..i])
    }
}

/// A member `"k":v` split into its key text (with quotes) and value text.
#[inline]
pub fn split_member(member: &[u8]) -> Option<(&[u8], &[u8])> {
    // The key is a string: its closing quote is the first unescaped one after the opening.
    if member.first() != Some(&b'"') {
        return None;
    }
    let mut escaped = false;
    for (i, &c) in member.iter().enumerate().skip(1) {
        if escaped {
            escaped = false;
        } else if c == b'\\' {
            escaped = true;
        } else if c == b'"' {
            return (member.get(i + 1) == Some(&b':')).then(|| (&member[..=i], &member[i + 2..]));
        }
    }
    None
}

/// The record's schema id (its first element) and the rest of its elements.
pub fn record_schema(record: &[u8]) -> Option<(u32, Items<'_>)> {
    let mut items = Items::new(record);
    let id = items.next()?;
    if id.is_empty() || id.len() > 10 || !id.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let id = u32::try_from(id.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'))).ok()?;
    Some((id, items))
}

/// Rebuilds the object text `{"k1":v1,…}` of a keyed record and its schema.
pub fn rebuild(record: &[u8], schema: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(record.len() + schema.len());
    rebuild_into(record, schema, &mut out)?;
    String::from_utf8(out).ok()
}

/// [`rebuild`] into `out` (cleared first), for callers reusing one buffer.
pub fn rebuild_into(record: &[u8], schema: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let (_, mut values) = record_schema(record)?;
    let mut keys = Items::new(schema);
    out.clear();
    out.push(b'{');
    loop {
        match (keys.next(), values.next()) {
            (Some(k), Some(v)) => {
                if out.len() > 1 {
                    out.push(b',');
                }
                out.extend_from_slice(k);
                out.push(b':');
                out.extend_from_slice(v);
            }
            (None, None) if !keys.error && !values.error => break,
            _ => return None,
        }
    }
    out.push(b'}');
    Some(())
}

/// Splits a compact object's text into its key list (a schema record, `["k1",…]`) and the values
/// following `schema_id` (a keyed record, `[id,v1,…]`). `None` if `object` is not an object.
pub fn split_object(object: &[u8], schema_id: u32, schema: &mut Vec<u8>, record: &mut Vec<u8>) -> Option<()> {
    schema.clear();
    record.clear();
    schema.push(b'[');
    record.push(b'[');
    record.extend_from_slice(schema_id.to_string().as_bytes());
    let mut members = Items::new(object);
    for member in members.by_ref() {
        let (k, v) = split_member(member)?;
        if schema.len() > 1 {
            schema.push(b',');
        }
        schema.extend_from_slice(k);
        record.push(b',');
        record.extend_from_slice(v);
    }
    if members.error {
        return None;
    }
    schema.push(b']');
    record.push(b']');
    Some(())
}

/// The value text of member `key` (unescaped key text, e.g. `country_iso_code`) in a keyed
/// record, an object or an inline value; `None` if absent.
#[inline]
pub fn member<'a>(object_or_record: &'a [u8], schema: Option<&'a [u8]>, key: &str) -> Option<&'a [u8]> {
    let matches = |quoted: &[u8]| quoted.len() == key.len() + 2 && &quoted[1..quoted.len() - 1] == key.as_bytes();
    match schema {
        Some(schema) => {
            let (_, values) = record_schema(object_or_record)?;
            Items::new(schema).zip(values).find(|(k, _)| matches(k)).map(|(_, v)| v)
        }
        None => Items::new(object_or_record).filter_map(split_member).find(|(k, _)| matches(k)).map(|(_, v)| v),
    }
}

/// serde map access over a keyed record and its schema: keys and values deserialized from their
/// own texts, so borrowed fields (`&'de str`) borrow from the memory map.
pub struct Zip<'de> {
    pub keys: Items<'de>,
    pub values: Items<'de>,
}

impl<'de> MapAccess<'de> for Zip<'de> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Self::Error> {
        match self.keys.next() {
            None => Ok(None),
            Some(k) => seed.deserialize(&mut serde_json::Deserializer::from_slice(k)).map(Some),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Self::Error> {
        let v = self.values.next().ok_or_else(|| serde::de::Error::custom("metadata record has fewer values than its schema has keys"))?;
        seed.deserialize(&mut serde_json::Deserializer::from_slice(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_and_rebuild() {
        let object = br#"{"a":1,"b\"q":"x,}]\"y","c":{"d":[1,{"e":2}]},"f":null}"#;
        let (mut schema, mut record) = (Vec::new(), Vec::new());
        split_object(object, 42, &mut schema, &mut record).unwrap();
        assert_eq!(std::str::from_utf8(&schema).unwrap(), r#"["a","b\"q","c","f"]"#);
        assert_eq!(std::str::from_utf8(&record).unwrap(), r#"[42,1,"x,}]\"y",{"d":[1,{"e":2}]},null]"#);
        assert_eq!(rebuild(&record, &schema).unwrap().as_bytes(), object);
        assert_eq!(member(&record, Some(&schema), "c"), Some(&br#"{"d":[1,{"e":2}]}"#[..]));
        assert_eq!(member(object, None, "f"), Some(&b"null"[..]));
        assert_eq!(member(object, None, "e"), None);
        // Mismatched lengths and cut texts are refused, not misread.
        assert!(rebuild(br#"[42,1,2]"#, br#"["a"]"#).is_none());
        assert!(rebuild(br#"[42,"a]"#, br#"["a"]"#).is_none());
        assert!(split_object(br#"{"a":1"#, 0, &mut schema, &mut record).is_none());
        assert!(split_object(br#"{"a"}"#, 0, &mut schema, &mut record).is_none());
        split_object(b"{}", 3, &mut schema, &mut record).unwrap();
        assert_eq!((&schema[..], &record[..]), (&b"[]"[..], &b"[3]"[..]));
        assert_eq!(rebuild(&record, &schema).unwrap(), "{}");
    }
}
