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

/// The id of the part a keyed record names: its schema starts with `null` (`[null,"k1",…]`) and
/// its first value (after the schema id) is the part's id. `None` for a record without a part.
#[inline]
pub fn part_id(record: &[u8], schema: &[u8]) -> Option<u32> {
    if Items::new(schema).next() != Some(&b"null"[..]) {
        return None;
    }
    let (_, mut values) = record_schema(record)?;
    let id = values.next()?;
    if id.is_empty() || id.len() > 10 || !id.iter().all(u8::is_ascii_digit) {
        return None;
    }
    u32::try_from(id.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'))).ok()
}

/// The members of a stored metadata record as (key text with quotes, value text): a keyed record
/// with its schema (the part reference, keyed `null`, left out), or an object. `error` tells,
/// once it ends, whether the record was cut or did not match its schema.
pub struct Pairs<'a> {
    keyed: Option<Items<'a>>,
    items: Items<'a>,
    pub error: bool,
}

impl<'a> Pairs<'a> {
    /// `record` with its `schema` (keyed), or `record` as an object when `schema` is `None`.
    pub fn new(record: &'a [u8], schema: Option<&'a [u8]>) -> Pairs<'a> {
        match schema {
            Some(schema) => match record_schema(record) {
                Some((_, values)) => Pairs { keyed: Some(Items::new(schema)), items: values, error: false },
                None => Pairs { keyed: None, items: Items::new(b""), error: true },
            },
            None => Pairs { keyed: None, items: Items::new(record), error: false },
        }
    }
}

impl<'a> Iterator for Pairs<'a> {
    type Item = (&'a [u8], &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<(&'a [u8], &'a [u8])> {
        if self.error {
            return None;
        }
        let Some(keys) = &mut self.keyed else {
            let pair = self.items.next().map(|m| split_member(m).ok_or(()));
            return match pair {
                Some(Ok(pair)) => Some(pair),
                Some(Err(())) => {
                    self.error = true;
                    None
                }
                None => {
                    self.error = self.items.error;
                    None
                }
            };
        };
        loop {
            match (keys.next(), self.items.next()) {
                (Some(b"null"), Some(_)) => continue,
                (Some(k), Some(v)) => return Some((k, v)),
                (None, None) => {
                    self.error = keys.error || self.items.error;
                    return None;
                }
                _ => {
                    self.error = true;
                    return None;
                }
            }
        }
    }
}

/// Key order of two members' quoted key texts: by the key without its quotes, the order the
/// writer sorted them in (it only splits objects whose merge gives their text back).
#[inline]
fn key_order(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    fn strip(k: &[u8]) -> &[u8] {
        k.get(1..k.len().saturating_sub(1)).unwrap_or(k)
    }
    strip(a).cmp(strip(b))
}

/// Rebuilds the object text `{"k":v,…}` of a record's members and its part's, merged in key
/// order, into `out` (cleared first).
pub fn rebuild_merged(mut own: Pairs<'_>, part: Option<Pairs<'_>>, out: &mut Vec<u8>) -> Option<()> {
    out.clear();
    out.push(b'{');
    let push = |out: &mut Vec<u8>, (k, v): (&[u8], &[u8])| {
        if out.len() > 1 {
            out.push(b',');
        }
        out.extend_from_slice(k);
        out.push(b':');
        out.extend_from_slice(v);
    };
    let mut part = part;
    let (mut a, mut b) = (own.next(), part.as_mut().and_then(Iterator::next));
    loop {
        match (a, b) {
            (Some(x), Some(y)) if key_order(x.0, y.0).is_le() => {
                push(out, x);
                a = own.next();
            }
            (_, Some(y)) => {
                push(out, y);
                b = part.as_mut().and_then(Iterator::next);
            }
            (Some(x), None) => {
                push(out, x);
                a = own.next();
            }
            (None, None) => break,
        }
    }
    if own.error || part.is_some_and(|p| p.error) {
        return None;
    }
    out.push(b'}');
    Some(())
}

/// serde map access over a record's members and then its part's (keys in any order suit serde).
pub struct Merged<'de> {
    pub own: Pairs<'de>,
    pub part: Option<Pairs<'de>>,
    value: Option<&'de [u8]>,
}

impl<'de> Merged<'de> {
    pub fn new(own: Pairs<'de>, part: Option<Pairs<'de>>) -> Merged<'de> {
        Merged { own, part, value: None }
    }
}

impl<'de> MapAccess<'de> for Merged<'de> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Self::Error> {
        let pair = match self.own.next() {
            Some(pair) => Some(pair),
            None => self.part.as_mut().and_then(Iterator::next),
        };
        match pair {
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(&mut serde_json::Deserializer::from_slice(k)).map(Some)
            }
            None if self.own.error || self.part.as_ref().is_some_and(|p| p.error) => {
                Err(serde::de::Error::custom("metadata record does not match its schema"))
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Self::Error> {
        let v = self.value.take().ok_or_else(|| serde::de::Error::custom("metadata value asked before its key"))?;
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
