//! The rules AWS applies to the destination of a static route in a subnet
//! route table, beyond its syntax: what may be more specific than the
//! VPC's `local` route, and the link-local block AWS keeps for its own
//! services.
//!
//! Source: the Amazon VPC User Guide, "Subnet route tables", rules and
//! considerations (<https://docs.aws.amazon.com/vpc/latest/userguide/subnet-route-tables.html#route-table-rule-considerations>).

use ipnet::Ipv4Net;

use super::Resolver;
use crate::format::RawRoute;
use crate::model::Topology;
use crate::route_table::RouteTarget;

/// Where AWS states the rules these checks enforce.
pub(super) const SUBNET_ROUTE_RULES: &str =
    "https://docs.aws.amazon.com/vpc/latest/userguide/subnet-route-tables.html#route-table-rule-considerations";

/// The link-local block AWS keeps for the services only an instance
/// reaches (the instance metadata service, the Amazon DNS server): no
/// route may have it, or a part of it, as destination.
pub(super) const AWS_SERVICES_BLOCK: Ipv4Net =
    Ipv4Net::new_assert(std::net::Ipv4Addr::new(169, 254, 168, 0), 22);

impl Resolver<'_> {
    /// Whether a static route to `prefix` through `target` is one AWS
    /// accepts in a table of a VPC with block `vpc`: a route more specific
    /// than the `local` route must cover exactly one subnet's block and go
    /// to a network interface (an instance) or a NAT gateway (or a Gateway
    /// Load Balancer endpoint, which the file cannot name); no route may
    /// point into 169.254.168.0/22. Errors at the route's prefix.
    pub(super) fn check_route_destination(
        &mut self,
        r: &RawRoute,
        prefix: Ipv4Net,
        target: RouteTarget,
        vpc: Ipv4Net,
        t: &Topology,
    ) -> bool {
        if AWS_SERVICES_BLOCK.contains(&prefix) {
            let d = self.error(
                r.prefix.span(),
                format!("route {prefix} is inside {AWS_SERVICES_BLOCK}, which AWS reserves for its own services"),
            );
            d.expected = Some(format!("a destination outside {AWS_SERVICES_BLOCK}"));
            d.hint = Some(format!(
                "the instance metadata service and the Amazon DNS server live there; AWS refuses such a route ({SUBNET_ROUTE_RULES})"
            ));
            return false;
        }
        let more_specific = prefix.prefix_len() > vpc.prefix_len() && vpc.contains(&prefix);
        if !more_specific {
            return true;
        }
        let Some(subnet) = t.subnets.iter().find(|s| s.cidr == prefix) else {
            let d = self.error(
                r.prefix.span(),
                format!(
                    "route {prefix} is more specific than the VPC's local route {vpc} but is not the block of a subnet"
                ),
            );
            let inside: Vec<String> = t
                .subnets
                .iter()
                .filter(|s| super::blocks_overlap(s.cidr, prefix))
                .map(|s| format!("{} (`{}`)", s.cidr, s.name))
                .collect();
            d.expected = Some(if inside.is_empty() {
                "a destination outside the VPC block, or the whole block of a subnet".into()
            } else {
                format!(
                    "a destination outside the VPC block, or the whole block of a subnet: {}",
                    inside.join(", ")
                )
            });
            d.hint = Some(format!(
                "AWS takes a route inside the VPC block only for a subnet's whole block ({SUBNET_ROUTE_RULES})"
            ));
            return false;
        };
        match target {
            RouteTarget::Instance(_) | RouteTarget::NatGateway(_) => true,
            _ => {
                let d = self.error(
                    r.target.span(),
                    format!(
                        "route {prefix} (the block of subnet `{}`) is more specific than the VPC's local route and goes to `{}`",
                        subnet.name,
                        r.target.get_ref()
                    ),
                );
                d.expected = Some(
                    "an instance (its network interface), a NAT gateway or a Gateway Load Balancer endpoint"
                        .into(),
                );
                d.hint = Some(format!(
                    "AWS takes a route more specific than the local route only to those targets ({SUBNET_ROUTE_RULES})"
                ));
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{diagnostics, hint, load};
    use crate::route_table::RouteTarget;

    const WEB: &str = "\n[[vpc.instance]]\nname = \"web\"\nsubnet = \"app-a\"\nip = \"10.0.1.10\"\nsource_dest_check = false\n\n[[vpc.route_table]]\nname = \"rt\"\nmain = true\n";

    #[test]
    fn a_route_inside_the_vpc_that_is_no_subnet_block_is_an_error() {
        let extra = format!("{WEB}routes = [{{ prefix = \"10.0.1.128/25\", target = \"web\" }}]\n");
        assert_eq!(
            diagnostics(&extra),
            ["t.toml:11:22: error: route 10.0.1.128/25 is more specific than the VPC's local route 10.0.0.0/16 but is not the block of a subnet"]
        );
        assert!(hint(&extra).contains("subnet-route-tables.html"));
    }

    #[test]
    fn a_subnet_route_to_a_gateway_is_an_error_at_its_target() {
        let extra = format!("{WEB}routes = [{{ prefix = \"10.0.1.0/24\", target = \"vgw\" }}]\n");
        assert_eq!(
            diagnostics(&extra),
            ["t.toml:11:46: error: route 10.0.1.0/24 (the block of subnet `app-a`) is more specific than the VPC's local route and goes to `vgw`"]
        );
    }

    #[test]
    fn a_subnet_route_to_an_instance_is_kept() {
        let (t, _) = load(&format!(
            "{WEB}routes = [{{ prefix = \"10.0.2.0/24\", target = \"web\" }}, {{ prefix = \"10.0.0.0/8\", target = \"vgw\" }}]\n"
        ));
        let rt = &t.route_tables[0];
        assert_eq!(rt.routes.len(), 3, "{:?}", rt.routes);
        assert!(matches!(rt.routes[1].target, RouteTarget::Instance(_)));
    }

    #[test]
    fn a_route_into_the_aws_services_block_is_an_error() {
        let extra =
            format!("{WEB}routes = [{{ prefix = \"169.254.169.254/32\", target = \"vgw\" }}]\n");
        assert_eq!(
            diagnostics(&extra),
            ["t.toml:11:22: error: route 169.254.169.254/32 is inside 169.254.168.0/22, which AWS reserves for its own services"]
        );
        // a larger block that holds it is accepted
        load(&format!(
            "{WEB}routes = [{{ prefix = \"169.254.0.0/16\", target = \"vgw\" }}]\n"
        ));
    }
}
