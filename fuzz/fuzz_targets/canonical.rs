//! RFC 8785 canonical JSON: `check_canonical` accepts exactly the bytes `serde_json` parses and
//! `jcs::to_vec` re-serializes to themselves; `check_canonical_object` agrees with it on objects
//! and returns the members in order; `Event::check_bytes` accepts exactly what
//! `Event::from_bytes` accepts, with the same `seq` and `prev`.
#![no_main]

use gavel_ledger::canonical::{check_canonical, check_canonical_object};
use gavel_ledger::event::Event;
use gavel_ledger::jcs;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let checked = check_canonical(data);
    // The reference: parse, re-serialize, compare bytes.
    let reference = serde_json::from_slice::<Value>(data)
        .ok()
        .and_then(|v| jcs::to_vec(&v).ok().map(|bytes| (v, bytes)))
        .filter(|(_, bytes)| bytes == data);
    assert_eq!(
        checked.is_ok(),
        reference.is_some(),
        "check_canonical and parse+re-serialize disagree on {:?}: {checked:?}",
        String::from_utf8_lossy(data)
    );
    if let Some((v, _)) = &reference {
        // The independent implementation agrees on what it accepts (it may refuse nothing
        // jcs::to_vec accepts).
        let other = serde_json_canonicalizer::to_vec(v).expect("serde_json_canonicalizer");
        assert_eq!(other, data, "jcs::to_vec and serde_json_canonicalizer differ");
    }

    let object = check_canonical_object(data);
    assert_eq!(object.is_ok(), checked.is_ok() && data.first() == Some(&b'{'));
    if let (Ok(members), Some((Value::Object(map), _))) = (&object, &reference) {
        assert_eq!(members.len(), map.len());
        for (key, range) in members {
            let value = map.get(key).expect("a returned key is a member");
            assert_eq!(&data[range.clone()], jcs::to_vec(value).expect("member").as_slice());
        }
    }

    let header = Event::check_bytes(data);
    let event = Event::from_bytes(data);
    assert_eq!(
        header.is_ok(),
        event.is_ok(),
        "check_bytes and from_bytes disagree on {:?}: {header:?} vs {event:?}",
        String::from_utf8_lossy(data)
    );
    if let (Ok(header), Ok(event)) = (header, event) {
        assert_eq!(header.seq, event.seq);
        assert_eq!(Ok(header.prev), event.prev_hash().map_err(|e| e.to_string()));
        assert_eq!(event.canonical_bytes().expect("re-serializes"), data);
    }
});
