use super::*;
use crate::build::{MessageBuilder, Section};
use crate::wire::flags;

const NOW: u64 = 1_700_000_000;

fn key(alg: Algorithm, secret: &[u8]) -> Key {
    Key::new("TestKey.Example.", alg, secret.to_vec()).unwrap()
}

fn k256() -> Key {
    key(Algorithm::HmacSha256, b"0123456789abcdef0123456789abcdef")
}

fn query(id: u16) -> Vec<u8> {
    let mut b = MessageBuilder::new(id, flags::RD);
    b.question(&crate::name::from_text("Example.COM.").unwrap(), rtype::SOA, class::IN).unwrap();
    b.finish()
}

fn answer_to(request: &[u8], serial: u32) -> Vec<u8> {
    let id = u16::from_be_bytes([request[0], request[1]]);
    let apex = crate::name::from_text("example.com").unwrap();
    let mut b = MessageBuilder::new(id, flags::QR | flags::AA);
    b.question(&apex, rtype::SOA, class::IN).unwrap();
    let mut soa = [&apex[..], &apex].concat();
    soa.extend_from_slice(&serial.to_be_bytes());
    soa.extend_from_slice(&[0; 16]);
    b.record(Section::Answer, &apex, rtype::SOA, class::IN, 60, &soa).unwrap();
    b.finish()
}

fn signed_query(key: &Key, time: u64) -> (Vec<u8>, Vec<u8>) {
    let mut q = query(0x4242);
    let mac = sign_request(&mut q, key, time, DEFAULT_FUDGE);
    (q, mac)
}

/// Replaces the MAC of the (last, TSIG) record of `message`.
fn with_mac(message: &[u8], mac: &[u8]) -> Vec<u8> {
    let t = find(message).unwrap().unwrap();
    let mut out = message[..t.offset].to_vec();
    let arcount = u16::from_be_bytes([out[10], out[11]]) - 1;
    out[10..12].copy_from_slice(&arcount.to_be_bytes());
    let id = u16::from_be_bytes([out[0], out[1]]);
    out[0..2].copy_from_slice(&t.original_id.to_be_bytes());
    assert!(append_rr(&mut out, &t.key_name, &t.algorithm_name, t.time_signed, t.fudge, mac, t.error, &t.other_data));
    out[0..2].copy_from_slice(&id.to_be_bytes());
    out
}

fn verify(message: &[u8], key: Option<&Key>, now: u64) -> Result<Verified, Failure> {
    let t = find(message).map_err(Failure::malformed)?.ok_or(Failure::notauth(BADSIG, FailureReason::Unsigned))?;
    verify_request(message, &t, key, now)
}

#[test]
fn algorithm_names() {
    for a in Algorithm::ALL {
        assert_eq!(Algorithm::from_name(a.name_text()), Some(a));
        assert_eq!(Algorithm::from_name(a.name_text().to_uppercase()), Some(a));
        assert_eq!(Algorithm::from_name(format!("{}.", a.name_text())), Some(a));
        assert_eq!(Algorithm::from_name(a.name_wire()), Some(a));
        assert_eq!(Algorithm::from_name(a.name_wire().to_ascii_uppercase()), Some(a));
        assert_eq!(crate::name::from_text(a.name_text()).unwrap(), a.name_wire());
        assert_eq!(a.to_string(), a.name_text());
    }
    assert_eq!(Algorithm::from_name("hmac-md5"), None);
    assert_eq!(Algorithm::from_name("hmac-md5.sig-alg.reg.int"), None);
    assert_eq!(Algorithm::from_name(b"\x08hmac-md5\x07sig-alg\x03reg\x03int\x00"), None);
    assert_eq!(Algorithm::from_name("hmac-sha256-128"), None);
    assert_eq!(Algorithm::from_name(""), None);
    assert_eq!(Algorithm::ALL.map(|a| (a.mac_len(), a.min_mac_len())), [(20, 10), (32, 16), (48, 24), (64, 32)]);
}

#[test]
fn key_debug_never_shows_the_secret() {
    let k = key(Algorithm::HmacSha512, b"super-secret-bytes");
    let s = format!("{k:?}");
    assert!(s.contains("<redacted>") && s.contains("testkey.example.") && !s.contains("super"), "{s}");
    assert!(!format!("{:?}", StreamSigner::new(k.clone(), vec![])).contains("super"));
    assert!(!format!("{:?}", StreamVerifier::new(k, vec![])).contains("super"));
    assert_eq!(k256().name, b"\x07testkey\x07example\x00");
}

#[test]
fn request_round_trip_every_algorithm() {
    for a in Algorithm::ALL {
        let k = key(a, b"secret");
        let (q, mac) = signed_query(&k, NOW);
        assert_eq!(mac.len(), a.mac_len());
        assert_eq!(q.len(), query(0).len() + k.tsig_len());
        let t = find(&q).unwrap().unwrap();
        assert_eq!(t.key_name, k.name);
        assert_eq!((t.algorithm, t.time_signed, t.fudge, t.original_id, t.error), (Some(a), NOW, DEFAULT_FUDGE, 0x4242, 0));
        assert_eq!(t.offset, query(0).len());
        assert_eq!(verify_request(&q, &t, Some(&k), NOW), Ok(Verified { mac: mac.clone() }));
        // The server answers; the client checks the answer.
        let mut r = answer_to(&q, 1);
        let rmac = sign_response(&mut r, &k, &mac, NOW + 1, DEFAULT_FUDGE, 0, &[]);
        assert_eq!(rmac.len(), a.mac_len());
        assert_eq!(verify_response(&r, &k, &mac, NOW), Ok(()));
        // Over another request's MAC it does not verify.
        let (_, other) = signed_query(&k, NOW + 1);
        assert_eq!(verify_response(&r, &k, &other, NOW).unwrap_err().error, BADSIG);
    }
}

#[test]
fn request_failures_in_rfc_order() {
    let k = k256();
    let (q, _) = signed_query(&k, NOW);
    let err = |r: Result<Verified, Failure>| r.unwrap_err();
    assert_eq!(err(verify(&q, None, NOW)).reason, FailureReason::UnknownKey);
    assert_eq!(err(verify(&q, None, NOW)).error, BADKEY);
    let other_alg = key(Algorithm::HmacSha512, &k.secret);
    assert_eq!(err(verify(&q, Some(&other_alg), NOW)).reason, FailureReason::KeyMismatch);
    let other_name = Key::new("other.", Algorithm::HmacSha256, k.secret.clone()).unwrap();
    assert_eq!(err(verify(&q, Some(&other_name), NOW)).error, BADKEY);
    let wrong_secret = key(Algorithm::HmacSha256, b"another secret");
    let f = err(verify(&q, Some(&wrong_secret), NOW));
    assert_eq!((f.error, f.formerr, f.rcode(), f.signed_answer()), (BADSIG, false, RCODE_NOTAUTH, false));
    // Time: inside the fudge either way, then one second out. BADKEY and BADSIG take precedence.
    assert!(verify(&q, Some(&k), NOW + 300).is_ok());
    assert!(verify(&q, Some(&k), NOW - 300).is_ok());
    let f = err(verify(&q, Some(&k), NOW + 301));
    assert_eq!((f.error, f.signed_answer()), (BADTIME, true));
    assert_eq!(f.reason, FailureReason::BadTime { time_signed: NOW, fudge: 300, now: NOW + 301 });
    assert_eq!(err(verify(&q, Some(&k), NOW - 301)).error, BADTIME);
    assert_eq!(err(verify(&q, Some(&wrong_secret), NOW + 1000)).error, BADSIG);
    assert_eq!(err(verify(&q, None, NOW + 1000)).error, BADKEY);
    // An algorithm we do not implement is BADKEY, named in the reason.
    let mut md5 = query(1);
    append_rr(&mut md5, &k.name, b"\x08hmac-md5\x07sig-alg\x03reg\x03int\x00", NOW, 300, &[0; 16], 0, &[]);
    let f = err(verify(&md5, Some(&k), NOW));
    assert_eq!(f.error, BADKEY);
    assert_eq!(f.reason, FailureReason::UnsupportedAlgorithm("hmac-md5.sig-alg.reg.int.".into()));
}

#[test]
fn any_changed_byte_fails() {
    let k = k256();
    let (q, _) = signed_query(&k, NOW);
    let t = find(&q).unwrap().unwrap();
    // The header ID is not covered: the MAC uses the original ID, so that a forwarder may
    // change the ID (RFC 8945 §4.3.2).
    for i in 2..q.len() {
        for bit in 0..8 {
            let mut m = q.clone();
            m[i] ^= 1 << bit;
            // Names compare without case: flipping the case bit of a letter in the key or
            // algorithm name changes nothing, as it must not.
            let in_tsig_names = i >= t.offset && i < t.offset + k.name.len() + 10 + 12;
            if bit == 5 && m[i].is_ascii_alphabetic() && in_tsig_names {
                continue;
            }
            assert!(verify(&m, Some(&k), NOW).is_err(), "byte {i} bit {bit} still verifies");
        }
    }
    for cut in 0..q.len() {
        assert!(verify(&q[..cut], Some(&k), NOW).is_err());
    }
}

#[test]
fn truncated_macs() {
    let k = key(Algorithm::HmacSha256, b"k");
    let (q, mac) = signed_query(&k, NOW);
    for len in 0..=40 {
        let m = with_mac(&q, &[&mac[..len.min(32)], &vec![0u8; len.saturating_sub(32)][..]].concat());
        let t = find(&m).unwrap().unwrap();
        let r = verify_request(&m, &t, Some(&k), NOW);
        match len {
            0..=15 => assert_eq!(r.unwrap_err().reason, FailureReason::MacTooShort { min: 16 }, "{len}"),
            16..=32 => assert_eq!(r, Ok(Verified { mac: mac[..len].to_vec() }), "{len}"),
            _ => assert_eq!(r.unwrap_err().reason, FailureReason::MacTooLong, "{len}"),
        }
        if let Err(f) = verify_request(&m, &t, Some(&k), NOW) {
            assert!(f.formerr && f.error == 0 && f.rcode() == RCODE_FORMERR && !f.signed_answer());
        }
        // With BIND's policy (full length only), a good truncated MAC is BADTRUNC, after the
        // time check.
        let strict = verify_request_with_min_mac(&m, &t, Some(&k), NOW, usize::MAX);
        if (16..32).contains(&len) {
            let f = strict.unwrap_err();
            assert_eq!((f.error, f.reason.clone()), (BADTRUNC, FailureReason::TruncatedMac { len, min: 32 }));
            assert!(f.signed_answer());
            assert_eq!(verify_request_with_min_mac(&m, &t, Some(&k), NOW + 999, usize::MAX).unwrap_err().error, BADTIME);
        }
        // A wrong truncated MAC is still BADSIG.
        if (16..=32).contains(&len) {
            let mut bad = mac[..len].to_vec();
            bad[len - 1] ^= 1;
            assert_eq!(verify(&with_mac(&q, &bad), Some(&k), NOW).unwrap_err().error, BADSIG);
        }
    }
    // The response to a truncated request is signed over the truncated MAC.
    let m = with_mac(&q, &mac[..16]);
    let v = verify(&m, Some(&k), NOW).unwrap();
    let mut r = answer_to(&m, 3);
    sign_response(&mut r, &k, &v.mac, NOW, 300, 0, &[]);
    assert!(verify_response(&r, &k, &mac[..16], NOW).is_ok());
    assert!(verify_response(&r, &k, &mac, NOW).is_err());
    // Truncated answers are accepted by the client within the same bounds.
    let t = find(&r).unwrap().unwrap();
    assert!(verify_response(&with_mac(&r, &t.mac[..20]), &k, &mac[..16], NOW).is_ok());
    assert!(verify_response(&with_mac(&r, &t.mac[..9]), &k, &mac[..16], NOW).unwrap_err().formerr);
}

#[test]
fn error_answers() {
    let k = k256();
    let (q, mac) = signed_query(&k, NOW);
    let t = find(&q).unwrap().unwrap();
    // Every TSIG error code comes back, unsigned, as that error.
    for code in [BADSIG, BADKEY, BADTIME, BADMODE, BADNAME, BADALG, BADTRUNC, BADCOOKIE, 4095] {
        let mut r = answer_to(&q, 1);
        append_unsigned_error(&mut r, &t, NOW + 5, code);
        let rt = find(&r).unwrap().unwrap();
        assert_eq!((rt.mac.len(), rt.error, rt.time_signed, rt.key_name.clone()), (0, code, NOW + 5, k.name.clone()));
        let f = verify_response(&r, &k, &mac, NOW).unwrap_err();
        assert_eq!((f.error, f.reason), (code, FailureReason::PeerError { code }));
        assert!(!error_name(code).is_empty());
    }
    // BADTIME is signed, carries the request's time and the server's clock in other data.
    let mut r = answer_to(&q, 1);
    sign_error_response(&mut r, &k, &t, NOW + 1000, BADTIME);
    let rt = find(&r).unwrap().unwrap();
    assert_eq!((rt.error, rt.time_signed, rt.fudge), (BADTIME, NOW, DEFAULT_FUDGE));
    assert_eq!(rt.other_data, u48(NOW + 1000));
    assert_eq!(verify_response(&r, &k, &mac, NOW).unwrap_err().reason, FailureReason::PeerError { code: BADTIME });
    // A forged BADTIME (bad MAC) is a bad signature, not the peer's word.
    let forged = with_mac(&r, &[0; 32]);
    assert_eq!(verify_response(&forged, &k, &mac, NOW).unwrap_err().reason, FailureReason::BadMac);
    let mut r = answer_to(&q, 1);
    sign_error_response(&mut r, &k, &t, NOW + 2, BADTRUNC);
    let rt = find(&r).unwrap().unwrap();
    assert_eq!((rt.error, rt.time_signed, rt.other_data.len()), (BADTRUNC, NOW + 2, 0));
    assert_eq!(verify_response(&r, &k, &mac, NOW).unwrap_err().error, BADTRUNC);
}

#[test]
fn find_places_and_frames() {
    let k = k256();
    assert_eq!(find(&query(1)), Ok(None));
    let (q, _) = signed_query(&k, NOW);
    let t = find(&q).unwrap().unwrap();
    // Not last of the additional section: an OPT after it, or a second TSIG.
    let mut m = q.clone();
    m.extend_from_slice(&[0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0]);
    m[11] += 1;
    assert_eq!(find(&m), Err(WireError::MisplacedTsig { offset: t.offset }));
    let mut m = q.clone();
    m.extend_from_slice(&q[t.offset..]);
    m[11] += 1;
    assert_eq!(find(&m), Err(WireError::MisplacedTsig { offset: t.offset }));
    // Last record of the message but in the authority section.
    let mut m = q.clone();
    m[11] -= 1;
    m[9] += 1;
    assert_eq!(find(&m), Err(WireError::MisplacedTsig { offset: t.offset }));
    // Wrong class, wrong TTL, RDATA that does not frame, bytes after the message.
    let class_at = t.offset + k.name.len() + 2;
    let mut m = q.clone();
    m[class_at + 1] = 1;
    assert!(matches!(find(&m), Err(WireError::BadTsig { reason: "class is not ANY", .. })));
    let mut m = q.clone();
    m[class_at + 5] = 1;
    assert!(matches!(find(&m), Err(WireError::BadTsig { reason: "TTL is not 0", .. })));
    let mut m = q.clone();
    m.push(0);
    let rdlen_at = class_at + 6;
    m[rdlen_at + 1] += 1;
    assert!(matches!(find(&m), Err(WireError::BadTsig { .. })));
    let mut m = q.clone();
    m.push(0);
    assert_eq!(find(&m), Err(WireError::TrailingBytes { offset: q.len(), count: 1 }));
    // A compressed, upper-case key name is read, lower-cased and verifies.
    let mut b = MessageBuilder::new(7, 0);
    b.question(&k.name.to_ascii_uppercase(), rtype::SOA, class::IN).unwrap();
    let mut m = b.finish();
    let mut ctx = k.context();
    ctx.update(&m);
    feed_variables(&mut ctx, &k.name, k.algorithm, NOW, 300, 0, &[]);
    let mac = ctx.sign().as_ref().to_vec();
    append_rr(&mut m, b"\xC0\x0C", k.algorithm.name_wire(), NOW, 300, &mac, 0, &[]);
    let t = find(&m).unwrap().unwrap();
    assert_eq!(t.key_name, k.name);
    assert!(verify_request(&m, &t, Some(&k), NOW).is_ok());
}

#[test]
fn signing_non_messages_does_nothing() {
    let k = k256();
    for bytes in [vec![], vec![0; 11]] {
        let mut m = bytes.clone();
        assert!(sign_request(&mut m, &k, NOW, 300).is_empty());
        assert!(sign_response(&mut m, &k, &[], NOW, 300, 0, &[]).is_empty());
        let mut s = StreamSigner::new(k.clone(), vec![]);
        s.sign(&mut m, NOW, 300);
        assert_eq!(m, bytes);
    }
    let mut full = query(1);
    full[10] = 0xFF;
    full[11] = 0xFF;
    let before = full.clone();
    assert!(sign_request(&mut full, &k, NOW, 300).is_empty());
    assert!(sign_response(&mut full, &k, &[], NOW, 300, 0, &vec![0; 70_000]).is_empty());
    assert_eq!(full, before);
    // Messages that are not ours to verify never panic the verifier.
    let t = find(&signed_query(&k, NOW).0).unwrap().unwrap();
    assert!(verify_request(&[0; 5], &t, Some(&k), NOW).is_err());
    assert!(verify_request(&query(1), &TsigRr { offset: 999, ..t.clone() }, Some(&k), NOW).is_err());
}

/// Messages of a fake transfer: `count` answers of increasing serial, each a message.
fn transfer(q: &[u8], count: u32) -> Vec<Vec<u8>> {
    (0..count).map(|i| answer_to(q, i)).collect()
}

#[test]
fn stream_every_message_signed() {
    for a in Algorithm::ALL {
        let k = key(a, b"stream");
        let (q, mac) = signed_query(&k, NOW);
        let v = verify(&q, Some(&k), NOW).unwrap();
        let mut signer = StreamSigner::new(k.clone(), v.mac);
        let mut msgs = transfer(&q, 6);
        for m in &mut msgs {
            signer.sign(m, NOW, DEFAULT_FUDGE);
        }
        // The first message is signed exactly as a single answer.
        let mut single = answer_to(&q, 0);
        sign_response(&mut single, &k, &mac, NOW, DEFAULT_FUDGE, 0, &[]);
        assert_eq!(msgs[0], single);
        let mut verifier = StreamVerifier::new(k.clone(), mac.clone());
        assert!(verifier.finish().is_err(), "nothing seen yet");
        for m in &msgs {
            verifier.verify(m, NOW).unwrap();
        }
        verifier.finish().unwrap();
        assert_eq!(verifier.messages(), 6);
        // A tampered, dropped or reordered message breaks the chain at that point, for good.
        for broken in [
            {
                let mut m = msgs.clone();
                m[2][20] ^= 1;
                m
            },
            [&msgs[..2], &msgs[3..]].concat(),
            [&msgs[..2], &[msgs[3].clone(), msgs[2].clone()], &msgs[4..]].concat(),
        ] {
            let mut verifier = StreamVerifier::new(k.clone(), mac.clone());
            let results: Vec<_> = broken.iter().map(|m| verifier.verify(m, NOW).is_ok()).collect();
            assert_eq!(results[..2], [true, true]);
            assert!(results[2..].iter().all(|ok| !ok), "{results:?}");
            assert!(verifier.finish().is_err());
        }
    }
}

/// Signs `message` as the next signed message after `unsigned`, over `prior` (what a server
/// that signs only every n-th message does).
fn sign_after(k: &Key, prior: &[u8], unsigned: &[Vec<u8>], message: &mut Vec<u8>, time: u64) -> Vec<u8> {
    let mut ctx = k.context();
    feed_prior_mac(&mut ctx, prior);
    for m in unsigned {
        ctx.update(m);
    }
    ctx.update(message);
    feed_timers(&mut ctx, time, DEFAULT_FUDGE);
    let mac = ctx.sign().as_ref().to_vec();
    append_rr(message, &k.name, k.algorithm.name_wire(), time, DEFAULT_FUDGE, &mac, 0, &[]);
    mac
}

#[test]
fn stream_with_unsigned_messages() {
    let k = k256();
    let (q, mac) = signed_query(&k, NOW);
    for gap in [1usize, 2, 99, 100] {
        let mut first = answer_to(&q, 0);
        let first_mac = sign_response(&mut first, &k, &mac, NOW, DEFAULT_FUDGE, 0, &[]);
        let unsigned: Vec<_> = (1..=gap as u32).map(|i| answer_to(&q, i)).collect();
        let mut last = answer_to(&q, 1000);
        sign_after(&k, &first_mac, &unsigned, &mut last, NOW + 1);
        let mut v = StreamVerifier::new(k.clone(), mac.clone());
        v.verify(&first, NOW).unwrap();
        let mut ok = true;
        for (i, m) in unsigned.iter().enumerate() {
            let r = v.verify(m, NOW);
            if i < 99 {
                r.unwrap();
                assert_eq!(v.finish().unwrap_err().reason, FailureReason::Unsigned, "ends unsigned");
            } else {
                assert_eq!(r.unwrap_err().reason, FailureReason::TooManyUnsigned);
                ok = false;
            }
        }
        assert_eq!(v.verify(&last, NOW).is_ok(), ok, "gap {gap}");
        assert_eq!(v.finish().is_ok(), ok, "gap {gap}");
    }
    // The first message must be signed.
    let mut v = StreamVerifier::new(k.clone(), mac.clone());
    assert_eq!(v.verify(&answer_to(&q, 0), NOW).unwrap_err().reason, FailureReason::Unsigned);
    // An unsigned message's bytes are in the next MAC: changing one is caught there.
    let mut first = answer_to(&q, 0);
    let first_mac = sign_response(&mut first, &k, &mac, NOW, DEFAULT_FUDGE, 0, &[]);
    let mut middle = answer_to(&q, 1);
    let mut last = answer_to(&q, 2);
    sign_after(&k, &first_mac, std::slice::from_ref(&middle), &mut last, NOW);
    middle[15] ^= 0x20;
    let mut v = StreamVerifier::new(k.clone(), mac.clone());
    v.verify(&first, NOW).unwrap();
    v.verify(&middle, NOW).unwrap();
    assert_eq!(v.verify(&last, NOW).unwrap_err().error, BADSIG);
}

#[test]
fn stream_time_and_key_checks() {
    let k = k256();
    let (q, mac) = signed_query(&k, NOW);
    let mut signer = StreamSigner::new(k.clone(), mac.clone());
    let mut a = answer_to(&q, 0);
    let mut b = answer_to(&q, 1);
    signer.sign(&mut a, NOW, DEFAULT_FUDGE);
    signer.sign(&mut b, NOW + 400, DEFAULT_FUDGE);
    let mut v = StreamVerifier::new(k.clone(), mac.clone());
    v.verify(&a, NOW).unwrap();
    assert_eq!(v.verify(&b, NOW).unwrap_err().error, BADTIME);
    let other = Key::new("other.", k.algorithm, k.secret.clone()).unwrap();
    let mut v = StreamVerifier::new(other, mac.clone());
    assert_eq!(v.verify(&a, NOW).unwrap_err().error, BADKEY);
    let mut v = StreamVerifier::new(k.clone(), mac);
    assert!(v.verify(&a[..a.len() - 1], NOW).unwrap_err().formerr);
    assert!(v.verify(&a, NOW).is_err(), "a failed stream stays failed");
}

#[test]
fn garbage_never_panics() {
    let k = k256();
    let (q, mac) = signed_query(&k, NOW);
    let mut r = answer_to(&q, 9);
    sign_response(&mut r, &k, &mac, NOW, DEFAULT_FUDGE, 0, &[]);
    for base in [&q, &r] {
        for cut in 0..base.len() {
            let _ = find(&base[..cut]);
            let mut v = StreamVerifier::new(k.clone(), mac.clone());
            assert!(v.verify(&base[..cut], NOW).is_err());
        }
        for i in 0..base.len() {
            for v in [0u8, 1, 0x3F, 0x7F, 0x80, 0xC0, 0xFF] {
                let mut m = base.clone();
                m[i] = v;
                if let Ok(Some(t)) = find(&m) {
                    let _ = verify_request(&m, &t, Some(&k), NOW);
                }
                let _ = StreamVerifier::new(k.clone(), mac.clone()).verify(&m, NOW);
            }
        }
    }
}
