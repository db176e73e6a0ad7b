//! `mqttspec_fold(text)` for SQLite: Unicode lower-casing (SQLite's own `lower()` and `LIKE` fold
//! ASCII only), so that case-insensitive filters match on SQLite as on PostgreSQL and exactly as
//! the in-memory matcher of subscriptions does (`fold_case`).
//!
//! The only unsafe code of the crate: registering a scalar function through SQLite's C API, as
//! sqlx itself does for `REGEXP`.
#![allow(unsafe_code)]

use std::os::raw::c_int;

use libsqlite3_sys as ffi;

use crate::sql::{FOLD, FOLD_NAME as NAME};

/// Registers the function on a connection.
pub(crate) async fn register(conn: &mut sqlx::SqliteConnection) -> Result<(), sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    // SAFETY: `db` is a live connection handle that stays locked for this call; the name is
    // NUL-terminated and 'static; `fold` has the xFunc signature and keeps no state (no user data,
    // no destructor).
    let rc = unsafe {
        ffi::sqlite3_create_function_v2(
            db,
            NAME.as_ptr(),
            1,
            ffi::SQLITE_UTF8 | ffi::SQLITE_DETERMINISTIC | ffi::SQLITE_INNOCUOUS,
            std::ptr::null_mut(),
            Some(fold),
            None,
            None,
            None,
        )
    };
    if rc == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(sqlx::Error::Protocol(format!("cannot register {FOLD}: SQLite error code {rc}")))
    }
}

/// `mqttspec_fold(x)`: NULL for NULL, else the text of `x` lower-cased.
unsafe extern "C" fn fold(ctx: *mut ffi::sqlite3_context, n: c_int, args: *mut *mut ffi::sqlite3_value) {
    // SAFETY: SQLite calls this with `n` (registered as 1) valid value pointers and a live
    // context; the text pointer it returns is valid for `sqlite3_value_bytes` bytes until the
    // next call on that value; SQLITE_TRANSIENT makes SQLite copy the result before we free it.
    unsafe {
        if n != 1 {
            ffi::sqlite3_result_error_code(ctx, ffi::SQLITE_MISUSE);
            return;
        }
        let arg = *args;
        if ffi::sqlite3_value_type(arg) == ffi::SQLITE_NULL {
            ffi::sqlite3_result_null(ctx);
            return;
        }
        let text = ffi::sqlite3_value_text(arg);
        if text.is_null() {
            ffi::sqlite3_result_error_nomem(ctx);
            return;
        }
        let len = usize::try_from(ffi::sqlite3_value_bytes(arg)).unwrap_or(0);
        let folded = crate::value::fold_case(&String::from_utf8_lossy(std::slice::from_raw_parts(text, len)));
        ffi::sqlite3_result_text64(
            ctx,
            folded.as_ptr().cast(),
            folded.len() as ffi::sqlite3_uint64,
            ffi::SQLITE_TRANSIENT(),
            ffi::SQLITE_UTF8 as u8,
        );
    }
}
