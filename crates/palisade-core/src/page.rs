//! Offset pagination shared by every list operation.
//!
//! Faces translate their own pagination parameters (Katapult `page`/`per_page`, Defined cursors)
//! into a [`PageRequest`]; stores answer with a [`Page`] that carries the total so faces can
//! render `total_pages` and friends.

use crate::error::{Error, Violation, ViolationCode};

/// Which slice of a list to return. `page` is 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageRequest {
    pub page: u32,
    pub per_page: u32,
}

impl PageRequest {
    pub const DEFAULT_PER_PAGE: u32 = 30;
    pub const MAX_PER_PAGE: u32 = 200;

    /// Builds a request from optional client input, validating bounds.
    pub fn new(page: Option<u32>, per_page: Option<u32>) -> Result<Self, Error> {
        let page = page.unwrap_or(1);
        let per_page = per_page.unwrap_or(Self::DEFAULT_PER_PAGE);
        let mut violations = Vec::new();
        if page == 0 {
            violations.push(Violation::new("page", ViolationCode::InvalidValue, "must be at least 1"));
        }
        if per_page == 0 || per_page > Self::MAX_PER_PAGE {
            violations.push(Violation::new(
                "per_page",
                ViolationCode::InvalidValue,
                format!("must be between 1 and {}", Self::MAX_PER_PAGE),
            ));
        }
        if violations.is_empty() {
            Ok(Self { page, per_page })
        } else {
            Err(Error::Invalid(violations))
        }
    }

    /// Everything, for internal callers that need whole lists.
    pub const fn all() -> Self {
        Self { page: 1, per_page: u32::MAX }
    }

    pub fn offset(&self) -> u64 {
        u64::from(self.page - 1) * u64::from(self.per_page)
    }

    pub fn limit(&self) -> u64 {
        u64::from(self.per_page)
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self { page: 1, per_page: Self::DEFAULT_PER_PAGE }
    }
}

/// One page of results and the total number of items across all pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub request: PageRequest,
}

impl<T> Page<T> {
    pub fn total_pages(&self) -> u64 {
        if self.total == 0 {
            0
        } else {
            self.total.div_ceil(u64::from(self.request.per_page))
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), total: self.total, request: self.request }
    }
}
