package networks

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

const fixture = `{"networks": [
 {"fdsn_code": "Z3", "start_date": "2015-01-01", "end_date": "2020-12-31"},
 {"fdsn_code": "Z3", "start_date": "1998-03-01", "end_date": "2001-06-30"},
 {"fdsn_code": "Z3", "start_date": "2020-06-01", "end_date": null},
 {"fdsn_code": "7C", "start_date": "2024-09-01T00:00:00", "end_date": "2027-12-31T23:59:59"},
 {"fdsn_code": "FR", "start_date": "1962-01-01", "end_date": null}
]}`

func TestExtend(t *testing.T) {
	r, err := Parse([]byte(fixture))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		code, date string
		want       string
		res        Result
	}{
		{"Z3", "2015-01-01", "Z32015", Extended}, // start edge inclusive
		{"Z3", "2020-12-31", "Z32015", Extended}, // end edge inclusive
		{"Z3", "2014-12-31", "", Unknown},        // before every epoch
		{"Z3", "1999-05-05", "Z31998", Extended}, // second epoch
		{"Z3", "2020-07-01", "Z32015", Extended}, // overlap: first match wins
		{"Z3", "2021-01-01", "Z32020", Extended}, // open end
		{"Z3", "2099-01-01", "Z32020", Extended}, // open end
		{"7C", "2027-12-31", "7C2024", Extended}, // dates with time parts
		{"XX", "2020-01-01", "", Unknown},        // not in registry
		{"FR", "2020-01-01", "", Permanent},      // not temporary
		{"Z", "2020-01-01", "", Permanent},       // one character
		{"Z3A", "2020-01-01", "", Permanent},     // three characters
		{"z3", "2020-01-01", "", Permanent},      // lower case is not temporary
		{"A3", "2020-01-01", "", Permanent},      // A is not a temporary first letter
		{"Z3", "2020-13-01", "", BadDate},
		{"Z3", "", "", BadDate},
	}
	for _, tc := range tests {
		got, res := r.Extend([]byte(tc.code), []byte(tc.date))
		if got != tc.want || res != tc.res {
			t.Errorf("Extend(%s, %s) = %q,%v want %q,%v", tc.code, tc.date, got, res, tc.want, tc.res)
		}
	}
}

func TestIsTemporary(t *testing.T) {
	for _, c := range []string{"0A", "9Z", "X0", "YY", "Z3", "3D", "8F"} {
		if !IsTemporary([]byte(c)) {
			t.Errorf("%s should be temporary", c)
		}
	}
	for _, c := range []string{"", "A0", "GE", "x1", "Z-", "Z", "Z33"} {
		if IsTemporary([]byte(c)) {
			t.Errorf("%s should not be temporary", c)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, bad := range []string{`not json`, `{}`, `{"networks": [{"fdsn_code": "Z3", "start_date": "x"}]}`, `{"networks": [{"fdsn_code": "Z3", "start_date": "2020-01-01", "end_date": "soon"}]}`} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%s): want error", bad)
		}
	}
}

func TestLoadFileAndHTTP(t *testing.T) {
	data, err := os.ReadFile("../../testdata/fdsn-networks.json")
	if err != nil {
		t.Fatal(err)
	}
	var gotQuery string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotQuery = r.URL.RawQuery
		w.Write(data)
	}))
	defer srv.Close()
	r, err := Load(context.Background(), srv.Client(), srv.URL+"/ws/networks/1/query")
	if err != nil {
		t.Fatal(err)
	}
	if gotQuery != "format=json" {
		t.Errorf("query %q", gotQuery)
	}
	if got, _ := r.Extend([]byte("3D"), []byte("2015-02-02")); got != "3D2014" {
		t.Errorf("3D → %q", got)
	}
	if _, err := Load(context.Background(), nil, "../../testdata/fdsn-networks.json"); err != nil {
		t.Error(err)
	}
	srv.Close()
	_, err = Load(context.Background(), nil, srv.URL)
	if err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("closed server: %v", err)
	}
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer down.Close()
	if _, err := Load(context.Background(), nil, down.URL); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("503: %v", err)
	}
}
