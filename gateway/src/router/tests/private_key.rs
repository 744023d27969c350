//! A key rotation at a reload: the new key in force, sessions restarted
//! with a handshake at once.

use super::*;

#[test]
fn a_new_private_key_restarts_the_sessions_under_it() {
    let mut lab = lab("");
    let p = ping([192, 168, 10, 10], [10, 0, 10, 10], 8);
    let (_, at_aws) = lab.office_sends(&p);
    assert_eq!(at_aws, vec![p.clone()], "a session under the first key");
    let old = lab.office.public_key();
    assert_eq!(old, lab.keys[0].public_key());

    // the far end learns the office's new public key first
    let new = PrivateKey::generate().unwrap();
    let now = lab.now;
    lab.aws.reload(&vpc_side("aws", &new.public_key())).unwrap();
    let (_, at_aws) = lab.office_sends(&p);
    assert!(at_aws.is_empty(), "the far end no longer takes the old key");

    // the office takes it: a handshake goes to each peer with an endpoint
    let mut out = Collect::default();
    assert!(lab.office.set_private_key(new.clone(), now, &mut out));
    assert_eq!(lab.office.public_key(), new.public_key());
    let to: Vec<SocketAddr> = out.udp.iter().map(|(to, _)| *to).collect();
    assert_eq!(to, [addr(AWS), addr(BACKUP)]);
    assert!(
        out.udp.iter().all(|(_, d)| d[0] == 1),
        "handshake initiations (type 1)"
    );
    lab.deliver(addr(OFFICE), out);
    let (_, at_aws) = lab.office_sends(&p);
    assert_eq!(at_aws, vec![p.clone()], "a session under the new key");

    // the same key again changes nothing and sends nothing
    let mut out = Collect::default();
    assert!(!lab.office.set_private_key(new, now, &mut out));
    assert!(out.udp.is_empty());
}
