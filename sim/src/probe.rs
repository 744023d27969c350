//! Real traffic from inside a namespace: ICMP echo, TCP connect, UDP with
//! a reply.
