//! The KQL syntax tree. Every expression and name carries its byte range in the
//! query text ([`Span`]), so that the planner's errors point at line:column too.

/// A byte range of the query text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// Just after the last byte.
    pub end: usize,
}

/// A name and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    /// The name, as written (KQL names are case-sensitive).
    pub name: String,
    /// Where.
    pub span: Span,
}

/// A whole KQL query: `let` statements, then one tabular expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// `let name = …;` statements, in order.
    pub lets: Vec<Let>,
    /// The tabular expression whose result is the query's result.
    pub body: Tabular,
}

/// `let name = value;`
#[derive(Debug, Clone, PartialEq)]
pub struct Let {
    /// The bound name.
    pub name: Ident,
    /// What it is bound to.
    pub value: LetValue,
}

/// The value of a `let` statement.
#[derive(Debug, Clone, PartialEq)]
pub enum LetValue {
    /// `let x = 5;`, `let since = ago(1d);`
    Scalar(Expr),
    /// `let t = T | where …;`, `let t = T;`
    Tabular(Tabular),
}

/// A source followed by `| operator`s.
#[derive(Debug, Clone, PartialEq)]
pub struct Tabular {
    /// Where the rows come from.
    pub source: Source,
    /// The operators applied to it, in order.
    pub pipeline: Pipeline,
}

/// Where a tabular expression's rows come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A table (or a tabular `let`) by name.
    Table(Ident),
    /// `external_table('X')`
    ExternalTable {
        /// The external table's name.
        name: String,
        /// Where the call was written.
        span: Span,
    },
    /// `union T1, T2, …` (by column name; a column missing from a side is null).
    Union(Vec<Tabular>),
    /// `( tabular )`
    Nested(Box<Tabular>),
    /// `datatable (a:long, b:string) [1, "x", 2, "y"]`
    Datatable {
        /// Column names and Kusto types.
        columns: Vec<(Ident, Ident)>,
        /// The values, row after row.
        values: Vec<Expr>,
        /// Where the source was written.
        span: Span,
    },
}

/// A bare operator pipeline (`| where … | project …`), as after a management command.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Pipeline {
    /// The operators, in order.
    pub operators: Vec<Operator>,
}

/// One tabular operator and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Operator {
    /// What the operator does.
    pub kind: OperatorKind,
    /// From the operator's name to its last token.
    pub span: Span,
}

/// `expr` or `name = expr`, as in `project`, `extend` and `summarize`.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedExpr {
    /// The given name, if any.
    pub name: Option<Ident>,
    /// The expression.
    pub expr: Expr,
}

/// A sort key of `sort by` / `top … by`.
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    /// The sorted expression.
    pub expr: Expr,
    /// `asc`; Kusto's default is descending.
    pub ascending: bool,
    /// `nulls first|last`; without it, ascending puts nulls first and descending last.
    pub nulls_first: Option<bool>,
}

/// The kinds of `join`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    /// `kind=innerunique`, Kusto's default: the left side deduplicated on the key.
    InnerUnique,
    /// `kind=inner`
    Inner,
    /// `kind=leftouter`
    LeftOuter,
    /// `kind=rightouter`
    RightOuter,
    /// `kind=fullouter`
    FullOuter,
    /// `kind=leftanti` (also `anti`, `leftantisemi`)
    LeftAnti,
    /// `kind=leftsemi`
    LeftSemi,
    /// `kind=rightanti` (also `rightantisemi`)
    RightAnti,
    /// `kind=rightsemi`
    RightSemi,
}

/// One equality of a join's `on` clause.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinKey {
    /// The left side's column.
    pub left: Ident,
    /// The right side's column.
    pub right: Ident,
}

/// What a tabular operator does.
#[derive(Debug, Clone, PartialEq)]
pub enum OperatorKind {
    /// `where p` / `filter p`
    Where(Expr),
    /// `project a, b = expr`
    Project(Vec<NamedExpr>),
    /// `project-away a, b`
    ProjectAway(Vec<Ident>),
    /// `project-rename new = old, …`: (new, old) pairs.
    ProjectRename(Vec<(Ident, Ident)>),
    /// `extend b = expr, …`
    Extend(Vec<NamedExpr>),
    /// `summarize aggs by keys`
    Summarize {
        /// Aggregations.
        aggregates: Vec<NamedExpr>,
        /// Group keys.
        by: Vec<NamedExpr>,
    },
    /// `join kind=… (right) on keys`
    Join {
        /// The join kind.
        kind: JoinKind,
        /// The right side.
        right: Box<Tabular>,
        /// The equalities.
        on: Vec<JoinKey>,
    },
    /// `union T2, T3`
    Union(Vec<Tabular>),
    /// `take n` / `limit n`
    Take(Expr),
    /// `top n by e [asc|desc]`
    Top {
        /// How many rows.
        count: Expr,
        /// The order.
        by: SortKey,
    },
    /// `sort by …` / `order by …`
    Sort(Vec<SortKey>),
    /// `distinct a, b` (`None`: `distinct *`)
    Distinct(Option<Vec<Ident>>),
    /// `count`
    Count,
    /// `as name`
    As(Ident),
}

/// A scalar expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where it was written.
    pub span: Span,
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `null` (untyped)
    Null,
    /// `true` / `false`
    Bool(bool),
    /// An integer.
    Long(i64),
    /// A real number.
    Real(f64),
    /// A string (`hidden` for `h'…'`).
    String {
        /// The value.
        value: String,
        /// Written as an obfuscated literal.
        hidden: bool,
    },
    /// `datetime(…)`: nanoseconds since the Unix epoch, UTC (`None`: `datetime(null)`).
    DateTime(Option<i64>),
    /// `1h`, `timespan(…)`: nanoseconds (`None`: `timespan(null)`).
    Timespan(Option<i64>),
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// `or`
    Or,
    /// `and`
    And,
    /// `==`
    Eq,
    /// `!=` / `<>`
    NotEq,
    /// `=~` (case-insensitive equality)
    EqTilde,
    /// `!~`
    NotEqTilde,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
    /// `+`
    Plus,
    /// `-`
    Minus,
    /// `*`
    Multiply,
    /// `/`
    Divide,
    /// `%`
    Modulo,
}

/// The string operators (`has`, `contains`, …), each with `!` and `_cs` forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringOp {
    /// `has`: a whole term.
    Has,
    /// `contains`: a substring.
    Contains,
    /// `startswith`
    StartsWith,
    /// `endswith`
    EndsWith,
    /// `hasprefix`: a term starting with.
    HasPrefix,
    /// `hassuffix`: a term ending with.
    HasSuffix,
}

/// What a scalar expression is.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A literal.
    Literal(Literal),
    /// A column or a scalar `let` name.
    Name(String),
    /// `*` (in `count(*)`-like and `arg_max(x, *)` positions).
    Star,
    /// `a op b`
    Binary {
        /// The operator.
        op: BinaryOp,
        /// Left operand.
        left: Box<Expr>,
        /// Right operand.
        right: Box<Expr>,
    },
    /// `-a`
    Negate(Box<Expr>),
    /// `a has 'x'`, `a !contains_cs 'x'`, …
    StringOp {
        /// Which operator.
        op: StringOp,
        /// `!has`, …
        negated: bool,
        /// `has_cs`, …
        case_sensitive: bool,
        /// The searched value.
        left: Box<Expr>,
        /// The searched-for value.
        right: Box<Expr>,
    },
    /// `a in (…)`, `a !in (…)`, `a in~ (…)`
    In {
        /// The tested value.
        expr: Box<Expr>,
        /// The values (a `dynamic([…])` list is flattened into them).
        list: Vec<Expr>,
        /// `!in`
        negated: bool,
        /// `in~`
        case_insensitive: bool,
    },
    /// `a between (lo .. hi)`
    Between {
        /// The tested value.
        expr: Box<Expr>,
        /// Lower bound (inclusive).
        low: Box<Expr>,
        /// Upper bound (inclusive).
        high: Box<Expr>,
        /// `!between`
        negated: bool,
    },
    /// `f(args…)`
    Call {
        /// The function's name, as written.
        name: Ident,
        /// Its arguments.
        args: Vec<Expr>,
    },
    /// `[a, b]` / `dynamic([a, b])`
    List(Vec<Expr>),
}
