package scan

import (
	"testing"
)

func TestParseLiveHTTP(t *testing.T) {
	v, err := parseVersion(live(t, "dashboard_api_version.json"))
	if err != nil || v.RayVersion != "2.60.0" || v.SessionName != "session_2026-11-25_20-13-21_979646_24237" ||
		v.RayCommit != "b7f4259e944bf6959f721b106adc366ddfa0c356" || v.Version != "4" {
		t.Fatalf("version: %+v %v", v, err)
	}
	mode, err := parseAuthMode(live(t, "dashboard_api_authentication_mode_token.json"))
	if err != nil || mode != "token" {
		t.Fatalf("auth mode: %q %v", mode, err)
	}
	for _, f := range []string{"dashboard_api_gcs_healthz.txt", "agent_local_raylet_healthz.txt"} {
		if !isSuccess(200, live(t, f)) {
			t.Errorf("%s: not success", f)
		}
	}
	for _, f := range []string{"dashboard_api_version_401.txt", "dashboard_api_version_403.txt", "agent_healthz.txt"} {
		if _, err := parseVersion(live(t, f)); err == nil {
			t.Errorf("%s parsed as a version", f)
		}
		if _, err := parseAuthMode(live(t, f)); err == nil {
			t.Errorf("%s parsed as an auth mode", f)
		}
	}
	if isSuccess(503, []byte("success")) || isSuccess(200, []byte("successful")) {
		t.Error("isSuccess too lax")
	}
}

func TestParseRejectsNonRay(t *testing.T) {
	for _, body := range []string{``, `[]`, `"x"`, `{}`, `{"ray_version": ""}`, `{"ray_version": 2}`, `{"version":"1.0"}`, `<html>`, `null`} {
		if v, err := parseVersion([]byte(body)); err == nil {
			t.Errorf("parseVersion(%q) = %+v", body, v)
		}
	}
	for _, body := range []string{``, `{}`, `{"authentication_mode": ""}`, `{"authentication_mode": null}`, `{"authentication_mode": 1}`, `{"mode":"token"}`} {
		if m, err := parseAuthMode([]byte(body)); err == nil {
			t.Errorf("parseAuthMode(%q) = %q", body, m)
		}
	}
	// Older Ray has no session_name: still a version.
	if v, err := parseVersion([]byte(`{"version":"3","ray_version":"2.9.3","ray_commit":"abc"}`)); err != nil || v.SessionName != "" {
		t.Errorf("old version: %+v %v", v, err)
	}
}

func FuzzParseVersion(f *testing.F) {
	for _, n := range []string{"dashboard_api_version.json", "dashboard_api_authentication_mode_token.json", "dashboard_api_version_401.txt", "agent_healthz.txt"} {
		f.Add(live(f, n))
	}
	f.Add([]byte(`{"ray_version": "2.60.0", "session_name": null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseVersion(b)
		if err == nil && v.RayVersion == "" {
			t.Fatal("accepted without ray_version")
		}
	})
}

func FuzzParseAuthMode(f *testing.F) {
	for _, n := range []string{"dashboard_api_version.json", "dashboard_api_authentication_mode_token.json", "dashboard_api_version_403.txt"} {
		f.Add(live(f, n))
	}
	f.Add([]byte(`{"authentication_mode": "disabled"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseAuthMode(b)
		if err == nil && m == "" {
			t.Fatal("accepted an empty mode")
		}
	})
}

func FuzzIsSuccess(f *testing.F) {
	for _, n := range []string{"dashboard_api_gcs_healthz.txt", "agent_local_raylet_healthz.txt", "agent_healthz.txt"} {
		f.Add(200, live(f, n))
	}
	f.Fuzz(func(t *testing.T, st int, b []byte) { _ = isSuccess(st, b) })
}
