//! A query builder that numbers its placeholders (`$1`, `$2`, …), which both SQLite and
//! PostgreSQL accept. sqlx's own `QueryBuilder<Any>` writes `?`, which PostgreSQL rejects.
//! The same methods as sqlx's builder, so call sites read the same.

use sqlx::any::AnyArguments;
use sqlx::error::BoxDynError;
use sqlx::{Any, Arguments, Encode, Type};

type Args<'a> = Result<AnyArguments<'a>, BoxDynError>;

/// SQL text plus its bound values.
pub struct QueryBuilder<'a> {
    sql: String,
    args: Args<'a>,
    count: usize,
}

impl<'a> QueryBuilder<'a> {
    pub fn new(init: impl Into<String>) -> Self {
        QueryBuilder {
            sql: init.into(),
            args: Ok(AnyArguments::default()),
            count: 0,
        }
    }

    /// Appends SQL text (never a value from outside: bind those).
    pub fn push(&mut self, sql: impl std::fmt::Display) -> &mut Self {
        use std::fmt::Write;
        let _ = write!(self.sql, "{sql}");
        self
    }

    /// Appends a placeholder and binds `value` to it. An encoding error is returned when the
    /// query runs.
    pub fn push_bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'a + Encode<'a, Any> + Type<Any>,
    {
        if let Ok(args) = &mut self.args
            && let Err(e) = args.add(value)
        {
            self.args = Err(e);
        }
        self.count += 1;
        let n = self.count;
        self.push(format_args!("${n}"))
    }

    /// A list whose items are separated by `separator`.
    pub fn separated(&mut self, separator: &'static str) -> Separated<'_, 'a> {
        Separated {
            builder: self,
            separator,
            first: true,
        }
    }

    /// `VALUES (…), (…)`: one tuple per item, its values pushed by `each`.
    pub fn push_values<I, F>(&mut self, items: I, mut each: F) -> &mut Self
    where
        I: IntoIterator,
        F: FnMut(Separated<'_, 'a>, I::Item),
    {
        self.push("VALUES ");
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.push("(");
            each(self.separated(", "), item);
            self.push(")");
        }
        self
    }

    fn take_args(&mut self) -> Args<'a> {
        std::mem::replace(&mut self.args, Ok(AnyArguments::default()))
    }

    pub fn build<'q>(&'q mut self) -> sqlx::query::Query<'q, Any, AnyArguments<'q>>
    where
        'a: 'q,
    {
        let args: Args<'q> = self.take_args();
        sqlx_core::query::query_with_result(&self.sql, args)
    }

    pub fn build_query_as<'q, T>(&'q mut self) -> sqlx::query::QueryAs<'q, Any, T, AnyArguments<'q>>
    where
        'a: 'q,
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        let args: Args<'q> = self.take_args();
        sqlx_core::query_as::query_as_with_result(&self.sql, args)
    }

    pub fn build_query_scalar<'q, T>(
        &'q mut self,
    ) -> sqlx::query::QueryScalar<'q, Any, T, AnyArguments<'q>>
    where
        'a: 'q,
        (T,): for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        let args: Args<'q> = self.take_args();
        sqlx_core::query_scalar::query_scalar_with_result(&self.sql, args)
    }

    /// The SQL text so far.
    pub fn sql(&self) -> &str {
        &self.sql
    }
}

/// Items of a list, see [`QueryBuilder::separated`].
pub struct Separated<'b, 'a> {
    builder: &'b mut QueryBuilder<'a>,
    separator: &'static str,
    first: bool,
}

impl<'a> Separated<'_, 'a> {
    fn separate(&mut self) {
        if !self.first {
            self.builder.push(self.separator);
        }
        self.first = false;
    }

    pub fn push(&mut self, sql: impl std::fmt::Display) -> &mut Self {
        self.separate();
        self.builder.push(sql);
        self
    }

    pub fn push_bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'a + Encode<'a, Any> + Type<Any>,
    {
        self.separate();
        self.builder.push_bind(value);
        self
    }
}
