//! The order CloudFormation creates a stack's resources in: a resource
//! depends on every resource its properties name (`Ref`, `Fn::GetAtt`,
//! `Fn::Sub`'s `${Id}` and `${Id.Attr}`) and on those in its `DependsOn`.
//! CloudFormation refuses a template whose dependencies form a cycle
//! ("Circular dependency between resources: [A, B]", whatever kind of
//! reference closes it: two security groups naming each other in their
//! inline rules, a `DependsOn` loop, a `Fn::Sub` naming its own resource),
//! and so does the importer, naming one cycle of each tangle and where each
//! of its references is.

use super::yaml::{error_at, NodeKind};

use super::{Evaluator, Node};

impl<'a> Evaluator<'a> {
    /// Records that the resource being evaluated names resource `to` at
    /// `at` (`via`: how).
    pub(super) fn depend(&mut self, to: usize, at: &Node, via: &'static str) {
        if let Some(from) = self.current {
            self.depend_from(from, to, at, via);
        }
    }

    /// Records that resource `from` names resource `to` at `at`.
    fn depend_from(&mut self, from: usize, to: usize, at: &Node, via: &'static str) {
        self.deps.add(
            from,
            Dependency {
                to,
                line: at.line,
                col: at.col,
                width: match &at.kind {
                    NodeKind::Str(s) => s.chars().count().max(1),
                    _ => 1,
                },
                via,
            },
        );
    }

    /// Each included resource's `DependsOn`: a logical id or a list of
    /// them, each naming a resource of the stack.
    pub(super) fn depends_on(&mut self) {
        let expected = "DependsOn: a logical id, or a list of logical ids";
        for i in 0..self.resources.len() {
            let (id, included) = (self.resources[i].id, self.resources[i].included);
            let Some(node) = self.resources[i].depends_on else {
                continue;
            };
            if !included {
                continue;
            }
            let items: &'a [Node] = match &node.kind {
                NodeKind::Str(_) => std::slice::from_ref(node),
                NodeKind::Seq(items) => items,
                _ => {
                    self.fail_at(
                        node,
                        format!("the DependsOn of `{id}` is {}", node.describe()),
                        expected,
                    );
                    continue;
                }
            };
            for item in items {
                let Some(name) = item.as_str() else {
                    self.fail_at(
                        item,
                        format!("DependsOn of `{id}` lists {}", item.describe()),
                        expected,
                    );
                    continue;
                };
                let Some(&to) = self.index.get(name) else {
                    let mut d = item.error(
                        self.src,
                        format!("DependsOn of `{id}` names `{name}`, which is not a resource"),
                    );
                    d = d.expected("the logical id of a resource of this template");
                    if let Some(s) = crate::diag::did_you_mean(name, self.index.keys().copied()) {
                        d = d.hint(format!("did you mean `{s}`?"));
                    }
                    self.fail(d);
                    continue;
                };
                if self.check_included(to, item).is_some() {
                    continue;
                }
                self.depend_from(i, to, item, "DependsOn");
            }
        }
    }

    /// An error for each tangle of resources that depend on each other,
    /// at the first reference of one cycle through it, as CloudFormation
    /// refuses the template ("Circular dependency between resources").
    pub(super) fn circular_dependencies(&mut self) {
        let cycles = self.deps.cycles(self.resources.len());
        let mut found = Vec::new();
        for (start, path) in cycles {
            let ids: Vec<&str> = std::iter::once(start)
                .chain(path.iter().map(|d| d.to))
                .map(|i| self.resources[i].id)
                .collect();
            let mut steps = Vec::new();
            for (k, d) in path.iter().enumerate() {
                steps.push(format!(
                    "`{}` names `{}` ({} at {}:{}:{})",
                    ids[k],
                    ids[k + 1],
                    d.via,
                    self.src.name().display(),
                    d.line,
                    d.col
                ));
            }
            let first = path[0];
            let d = error_at(
                self.src,
                first.line,
                first.col,
                first.width,
                format!(
                    "circular dependency between resources: {}",
                    ids.join(" → ")
                ),
            )
            .expected("references between resources that form no cycle: CloudFormation refuses the template (\"Circular dependency between resources\")")
            .hint(format!(
                "{}; break the cycle, e.g. with a separate AWS::EC2::SecurityGroupIngress or Egress resource for rules between two groups",
                steps.join(", ")
            ));
            found.push(d);
        }
        for d in found {
            self.fail(d);
        }
    }
}

/// One resource naming another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Dependency {
    /// The resource depended on (its index among the template's resources).
    pub to: usize,
    /// 1-based line of the reference.
    pub line: usize,
    /// 1-based column of the reference.
    pub col: usize,
    /// Its width, in characters (for the underline).
    pub width: usize,
    /// How: `Ref`, `Fn::GetAtt`, `Fn::Sub` or `DependsOn`.
    pub via: &'static str,
}

/// Every resource's dependencies, by resource index.
#[derive(Debug, Default)]
pub(super) struct Dependencies {
    edges: Vec<Vec<Dependency>>,
}

impl Dependencies {
    /// Records that resource `from` names `dep.to`.
    pub(super) fn add(&mut self, from: usize, dep: Dependency) {
        if self.edges.len() <= from {
            self.edges.resize_with(from + 1, Vec::new);
        }
        self.edges[from].push(dep);
    }

    fn of(&self, from: usize) -> &[Dependency] {
        self.edges.get(from).map_or(&[], Vec::as_slice)
    }

    /// One cycle per strongly connected tangle of `n` resources, each as
    /// the resource it starts from (the tangle's first in template order)
    /// and the references around it, back to that resource. Tangles in
    /// template order.
    pub(super) fn cycles(&self, n: usize) -> Vec<(usize, Vec<&Dependency>)> {
        let component = self.components(n);
        let mut size = vec![0usize; n];
        for &c in &component {
            size[c] += 1;
        }
        let mut named = vec![false; n];
        let mut out = Vec::new();
        for start in 0..n {
            let c = component[start];
            if named[c] {
                continue;
            }
            named[c] = true;
            let self_loop = self.of(start).iter().any(|d| d.to == start);
            if size[c] < 2 && !self_loop {
                continue;
            }
            if let Some(path) = self.shortest_cycle(start, |i| component[i] == c) {
                out.push((start, path));
            }
        }
        out
    }

    /// The shortest path of references from `start` back to it, inside the
    /// resources `inside` admits (breadth first).
    fn shortest_cycle(
        &self,
        start: usize,
        inside: impl Fn(usize) -> bool,
    ) -> Option<Vec<&Dependency>> {
        use std::collections::{HashMap, VecDeque};
        // how each resource was reached: the resource before and the edge
        let mut came: HashMap<usize, (usize, &Dependency)> = HashMap::new();
        let mut queue = VecDeque::from([start]);
        while let Some(at) = queue.pop_front() {
            for d in self.of(at) {
                if !inside(d.to) {
                    continue;
                }
                if d.to == start {
                    let mut path = vec![d];
                    let mut cur = at;
                    while cur != start {
                        let (prev, e) = came[&cur];
                        path.push(e);
                        cur = prev;
                    }
                    path.reverse();
                    return Some(path);
                }
                if let std::collections::hash_map::Entry::Vacant(v) = came.entry(d.to) {
                    v.insert((at, d));
                    queue.push_back(d.to);
                }
            }
        }
        None
    }

    /// Tarjan's strongly connected components, without recursion (a
    /// template may chain thousands of resources): the component of each
    /// resource.
    fn components(&self, n: usize) -> Vec<usize> {
        const NONE: usize = usize::MAX;
        let mut index = vec![NONE; n];
        let mut low = vec![0; n];
        let mut on_stack = vec![false; n];
        let mut stack = Vec::new();
        let mut component = vec![NONE; n];
        let mut next_index = 0;
        let mut next_component = 0;
        for root in 0..n {
            if index[root] != NONE {
                continue;
            }
            // (resource, how many of its edges are done)
            let mut work = vec![(root, 0usize)];
            index[root] = next_index;
            low[root] = next_index;
            next_index += 1;
            stack.push(root);
            on_stack[root] = true;
            while let Some(&mut (v, ref mut done)) = work.last_mut() {
                let edges = self.of(v);
                if let Some(d) = edges.get(*done) {
                    *done += 1;
                    let w = d.to;
                    if w >= n {
                        continue;
                    }
                    if index[w] == NONE {
                        index[w] = next_index;
                        low[w] = next_index;
                        next_index += 1;
                        stack.push(w);
                        on_stack[w] = true;
                        work.push((w, 0));
                    } else if on_stack[w] {
                        low[v] = low[v].min(index[w]);
                    }
                    continue;
                }
                work.pop();
                if let Some(&(parent, _)) = work.last() {
                    low[parent] = low[parent].min(low[v]);
                }
                if low[v] == index[v] {
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        component[w] = next_component;
                        if w == v {
                            break;
                        }
                    }
                    next_component += 1;
                }
            }
        }
        component
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cfn::ImportOptions;
    use crate::diag::{Diagnostic, SourceFile};

    /// The errors of evaluating `text`, with their hints.
    fn errors(text: &str) -> Vec<String> {
        let src = SourceFile::new("t.yaml", text.to_string());
        match super::super::evaluate(&src, &ImportOptions::default()) {
            Ok(_) => panic!("no error"),
            Err(d) => {
                d.0.iter()
                    .map(|d: &Diagnostic| {
                        format!("{} [{}]", d.headline(), d.hint.clone().unwrap_or_default())
                    })
                    .collect()
            }
        }
    }

    const SG: &str =
        "    Type: AWS::EC2::SecurityGroup\n    Properties:\n      GroupDescription: g\n";

    #[test]
    fn two_groups_naming_each_other_inline_are_a_cycle() {
        let t = format!(
            "Resources:\n  A:\n{SG}      SecurityGroupIngress:\n        - IpProtocol: tcp\n          FromPort: 22\n          ToPort: 22\n          SourceSecurityGroupId: !Ref B\n  B:\n{SG}      SecurityGroupIngress:\n        - IpProtocol: tcp\n          FromPort: 22\n          ToPort: 22\n          SourceSecurityGroupId: !GetAtt A.GroupId\n"
        );
        assert_eq!(
            errors(&t),
            vec![
                "t.yaml:10:39: error: circular dependency between resources: A → B → A \
                 [`A` names `B` (Ref at t.yaml:10:39), `B` names `A` (Fn::GetAtt at t.yaml:19:42); \
                 break the cycle, e.g. with a separate AWS::EC2::SecurityGroupIngress or Egress resource for rules between two groups]"
                    .to_string()
            ]
        );
        // one side as a separate ingress resource: no cycle
        let t = format!(
            "Resources:\n  A:\n{SG}  B:\n{SG}      SecurityGroupIngress:\n        - IpProtocol: tcp\n          FromPort: 22\n          ToPort: 22\n          SourceSecurityGroupId: !Ref A\n  AFromB:\n    Type: AWS::EC2::SecurityGroupIngress\n    Properties:\n      GroupId: !Ref A\n      IpProtocol: tcp\n      FromPort: 22\n      ToPort: 22\n      SourceSecurityGroupId: !Ref B\n"
        );
        let src = SourceFile::new("t.yaml", t);
        assert!(super::super::evaluate(&src, &ImportOptions::default()).is_ok());
    }

    #[test]
    fn a_depends_on_cycle_and_a_self_reference_are_cycles() {
        let e = errors(
            "Resources:\n  A:\n    Type: AWS::EC2::VPC\n    DependsOn: C\n  B:\n    Type: AWS::EC2::VPC\n    DependsOn: [A]\n  C:\n    Type: AWS::EC2::VPC\n    DependsOn:\n      - B\n",
        );
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with(
                "t.yaml:4:16: error: circular dependency between resources: A → C → B → A ["
            ),
            "{e:?}"
        );
        assert!(
            e[0].contains("`C` names `B` (DependsOn at t.yaml:11:9)"),
            "{e:?}"
        );
        let e = errors(
            "Resources:\n  A:\n    Type: AWS::EC2::Subnet\n    Properties:\n      VpcId: !Ref A\n",
        );
        assert!(
            e[0].starts_with("t.yaml:5:19: error: circular dependency between resources: A → A ["),
            "{e:?}"
        );
    }

    #[test]
    fn sub_references_form_cycles_too() {
        let e = errors(
            "Resources:\n  A:\n    Type: AWS::EC2::VPC\n    Properties:\n      Tags:\n        - Key: Name\n          Value: !Sub '${B}-a'\n  B:\n    Type: AWS::EC2::VPC\n    Properties:\n      Tags:\n        - Key: Name\n          Value: !Sub '${A.CidrBlock}-b'\n",
        );
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].contains("A → B → A [`A` names `B` (Fn::Sub at t.yaml:7:23), `B` names `A` (Fn::Sub at t.yaml:13:23)"),
            "{e:?}"
        );
    }

    #[test]
    fn depends_on_names_resources_of_the_stack() {
        let e = errors(
            "Resources:\n  Vpc:\n    Type: AWS::EC2::VPC\n  A:\n    Type: AWS::EC2::VPC\n    DependsOn: [Vcp]\n",
        );
        assert_eq!(
            e,
            vec!["t.yaml:6:17: error: DependsOn of `A` names `Vcp`, which is not a resource [did you mean `Vpc`?]".to_string()]
        );
        let e = errors("Resources:\n  A:\n    Type: AWS::EC2::VPC\n    DependsOn: {B: 1}\n");
        assert!(
            e[0].starts_with("t.yaml:4:16: error: the DependsOn of `A` is"),
            "{e:?}"
        );
    }

    fn dep(to: usize, line: usize) -> Dependency {
        Dependency {
            to,
            line,
            col: 1,
            width: 1,
            via: "Ref",
        }
    }

    fn cycle_ids(d: &Dependencies, n: usize) -> Vec<(usize, Vec<usize>)> {
        d.cycles(n)
            .into_iter()
            .map(|(s, p)| (s, p.iter().map(|e| e.to).collect()))
            .collect()
    }

    #[test]
    fn a_chain_has_no_cycle_and_a_loop_has_one() {
        let mut d = Dependencies::default();
        d.add(0, dep(1, 1));
        d.add(1, dep(2, 2));
        assert!(d.cycles(3).is_empty());
        d.add(2, dep(0, 3));
        assert_eq!(cycle_ids(&d, 3), vec![(0, vec![1, 2, 0])]);
    }

    #[test]
    fn a_self_reference_is_a_cycle() {
        let mut d = Dependencies::default();
        d.add(1, dep(1, 4));
        assert_eq!(cycle_ids(&d, 2), vec![(1, vec![1])]);
    }

    #[test]
    fn each_tangle_is_named_once_by_its_shortest_cycle() {
        let mut d = Dependencies::default();
        // 0 → 1 → 2 → 0 and 0 → 2: shortest from 0 is 0 → 2 → 0
        d.add(0, dep(1, 1));
        d.add(0, dep(2, 1));
        d.add(1, dep(2, 2));
        d.add(2, dep(0, 3));
        // a second tangle: 3 ⇄ 4
        d.add(3, dep(4, 5));
        d.add(4, dep(3, 6));
        assert_eq!(cycle_ids(&d, 5), vec![(0, vec![2, 0]), (3, vec![4, 3])]);
    }

    #[test]
    fn long_chains_do_not_overflow() {
        let mut d = Dependencies::default();
        let n = 100_000;
        for i in 0..n - 1 {
            d.add(i, dep(i + 1, i));
        }
        assert!(d.cycles(n).is_empty());
        d.add(n - 1, dep(0, n));
        assert_eq!(d.cycles(n).len(), 1);
    }
}
