package worker

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
)

// Auth is the credentials a client must give to reach the engine's web UI:
// HTTP basic auth, or a bearer token.
type Auth struct {
	User, Password string
	Token          string
}

// ParseAuth reads credentials as written in a --ui-auth file or the
// TASKHOST_UI_AUTH variable: "USER:PASSWORD" for basic auth, or
// "bearer:TOKEN".
func ParseAuth(text string) (*Auth, error) {
	text = strings.TrimSpace(text)
	kind, rest, ok := strings.Cut(text, ":")
	switch {
	case !ok || rest == "":
		return nil, errors.New(`UI credentials: want "USER:PASSWORD" or "bearer:TOKEN"`)
	case strings.EqualFold(kind, "bearer"):
		if len(rest) < 16 {
			return nil, errors.New("UI credentials: a bearer token of 16 characters at least")
		}
		return &Auth{Token: rest}, nil
	case kind == "":
		return nil, errors.New("UI credentials: the user name is empty")
	}
	if len(rest) < 8 {
		return nil, errors.New("UI credentials: a password of 8 characters at least")
	}
	return &Auth{User: kind, Password: rest}, nil
}

// wrap refuses a request without the credentials, with 401.
func (a *Auth) wrap(h http.Handler) http.Handler {
	eq := func(x, y string) bool { return subtle.ConstantTimeCompare([]byte(x), []byte(y)) == 1 }
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok := false
		if a.Token != "" {
			got, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			ok = found && eq(got, a.Token)
		} else if u, p, found := r.BasicAuth(); found {
			ok = eq(u, a.User) && eq(p, a.Password)
		}
		if !ok {
			if a.Token == "" {
				w.Header().Set("WWW-Authenticate", `Basic realm="taskhost"`)
			}
			http.Error(w, "401 unauthorized: the engine's UI needs credentials", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// LoopbackAddr gives an address without a host 127.0.0.1 as its host
// (":8080" listens on loopback, not on every interface).
func LoopbackAddr(addr string) string {
	if strings.HasPrefix(addr, ":") {
		return "127.0.0.1" + addr
	}
	return addr
}

// isLoopback reports whether addr's host is a loopback address or
// localhost.
func isLoopback(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("address %q: %w (want host:port, e.g. 127.0.0.1:8080)", addr, err)
	}
	if host == "localhost" {
		return true, nil
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback(), nil
}
