//! `join`: Kusto's kinds, keys and output column names.

use datafusion::common::Column;
use datafusion::logical_expr::{Expr as DfExpr, JoinType, LogicalPlan, LogicalPlanBuilder};

use super::aggregates::Names;
use super::Planner;
use crate::command::kql::{JoinKey, JoinKind};
use crate::error::Result;

impl Planner<'_> {
    /// Joins `left` with `right` on `on` (see the module docs of [`super`] for the
    /// output columns).
    pub(crate) fn join(
        &self,
        left: LogicalPlan,
        kind: JoinKind,
        right: LogicalPlan,
        on: &[JoinKey],
    ) -> Result<LogicalPlan> {
        let left_schema = left.schema().clone();
        let right_schema = right.schema().clone();
        let mut left_keys = Vec::new();
        let mut right_key_names = Vec::new();
        for key in on {
            left_keys.push(self.column(&key.left.name, key.left.span, &left_schema)?);
            let right = self.column(&key.right.name, key.right.span, &right_schema)?;
            right_key_names.push(right.name);
        }
        // innerunique: one (arbitrary) left row per key, as Kusto does.
        let left = if kind == JoinKind::InnerUnique {
            let keys: Vec<DfExpr> = left_keys.iter().cloned().map(DfExpr::Column).collect();
            let all: Vec<DfExpr> = left_schema
                .columns()
                .into_iter()
                .map(DfExpr::Column)
                .collect();
            LogicalPlanBuilder::from(left)
                .distinct_on(keys, all, None)?
                .build()?
        } else {
            left
        };
        // Right columns get unique, unqualified names (`id` → `id1`), so the join's
        // schema has no clash and later operators can name every column.
        let mut names = Names::with_used(left_schema.fields().iter().map(|f| f.name().as_str()));
        let mut renamed = Vec::new();
        let mut projection = Vec::new();
        for c in right_schema.columns() {
            let new = names.unique(&c.name);
            renamed.push((c.name.clone(), new.clone()));
            projection.push(DfExpr::Column(c).alias(new));
        }
        let right = LogicalPlanBuilder::from(right)
            .project(projection)?
            .build()?;
        let right_keys: Vec<Column> = right_key_names
            .iter()
            .map(|n| {
                let new = renamed
                    .iter()
                    .find(|(old, _)| old == n)
                    .map(|(_, new)| new.clone())
                    .unwrap_or_else(|| n.clone());
                Column::new_unqualified(new)
            })
            .collect();
        let join_type = match kind {
            JoinKind::Inner | JoinKind::InnerUnique => JoinType::Inner,
            JoinKind::LeftOuter => JoinType::Left,
            JoinKind::RightOuter => JoinType::Right,
            JoinKind::FullOuter => JoinType::Full,
            JoinKind::LeftAnti => JoinType::LeftAnti,
            JoinKind::LeftSemi => JoinType::LeftSemi,
            JoinKind::RightAnti => JoinType::RightAnti,
            JoinKind::RightSemi => JoinType::RightSemi,
        };
        let builder =
            LogicalPlanBuilder::from(left).join(right, join_type, (left_keys, right_keys), None)?;
        let plan = if matches!(kind, JoinKind::RightSemi | JoinKind::RightAnti) {
            // Only the right side's columns, under their own names.
            let back: Vec<DfExpr> = renamed
                .iter()
                .map(|(old, new)| DfExpr::Column(Column::new_unqualified(new)).alias(old.as_str()))
                .collect();
            builder.project(back)?.build()?
        } else {
            builder.build()?
        };
        Ok(plan)
    }
}
