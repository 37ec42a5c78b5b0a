//! Field rules that both the API and the dashboard apply; each returns the message to
//! show next to the field.

/// An endpoint URL: absolute http(s) with a host, at most 64 KiB; `https_only` refuses http.
pub fn endpoint_url(value: &str, https_only: bool) -> Result<(), String> {
    if value.len() > 65_536 {
        return Err("at most 65536 characters".into());
    }
    let url = url::Url::parse(value).map_err(|e| format!("not a valid URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if !https_only => {}
        "http" => return Err("only https:// URLs are allowed (HTTPS_ONLY)".into()),
        other => return Err(format!("scheme must be http or https, not {other}")),
    }
    if url.host().is_none() {
        return Err("the URL needs a host".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_urls() {
        assert!(endpoint_url("https://erp.example.com/hook", true).is_ok());
        assert!(endpoint_url("http://erp.example.com/hook", false).is_ok());
        assert!(endpoint_url("http://erp.example.com/hook", true).is_err());
        assert!(endpoint_url("ftp://erp.example.com/", false).is_err());
        assert!(endpoint_url("not a url", false).is_err());
        assert!(endpoint_url("", false).is_err());
    }
}
