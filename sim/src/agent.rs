//! The lab's listeners: one process that holds TCP and UDP listeners in
//! many namespaces at once, for probes to reach.
