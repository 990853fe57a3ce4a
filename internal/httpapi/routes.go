package httpapi

import (
	"context"
	"net/http"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/internal/auth"
	"github.com/dandanchat/dandan/internal/messenger"
)

type caller = messenger.Caller

func (a *API) routes() {
	s := a.svc
	m := a.mux
	ok, created, none := http.StatusOK, http.StatusCreated, http.StatusNoContent

	m.Handle("POST /v1/signup", a.public("signup", created, func(ctx context.Context, r *http.Request) (any, error) {
		var req api.SignUpRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return s.SignUp(ctx, req)
	}))
	m.Handle("POST /v1/signin", a.public("signin", ok, func(ctx context.Context, r *http.Request) (any, error) {
		var req api.SignInRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return s.SignIn(ctx, req)
	}))
	m.Handle("POST /v1/signout", a.authed("signout", none, func(ctx context.Context, c caller, r *http.Request) (any, error) {
		return nil, s.SignOut(ctx, c)
	}))
	m.Handle("POST /v1/signout-all", a.authed("signout-all", none, func(ctx context.Context, c caller, r *http.Request) (any, error) {
		return nil, s.SignOutAll(ctx, c)
	}))
	m.Handle("GET /v1/me", a.authed("me", ok, func(ctx context.Context, c caller, r *http.Request) (any, error) {
		return s.Me(ctx, c)
	}))
	m.Handle("GET /v1/devices", a.authed("devices", ok, func(ctx context.Context, c caller, r *http.Request) (any, error) {
		return s.Devices(ctx, c)
	}))
	m.Handle("DELETE /v1/devices/{device}", a.authed("device", none, func(ctx context.Context, c caller, r *http.Request) (any, error) {
		return nil, s.RevokeDevice(ctx, c, r.PathValue("device"))
	}))
	m.Handle("GET /v1/users/{user}", a.authed("user", ok, func(ctx context.Context, c caller, r *http.Request) (any, error) {
		return s.User(ctx, c, r.PathValue("user"))
	}))

	m.Handle("POST /v1/direct", a.authed("direct", ok, func(ctx context.Context, c caller, r *http.Request) (any, error) {
		var req api.CreateDirectRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return s.CreateDirect(ctx, c, req.User)
	}))
	m.Handle("POST /v1/rooms", a.authed("rooms.create", created, func(ctx context.Context, c caller, r *http.Request) (any, error) {
		var req api.CreateGroupRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return s.CreateGroup(ctx, c, req)
	}))
	m.Handle("GET /v1/rooms", a.authed("rooms", ok, func(ctx context.Context, c caller, r *http.Request) (any, error) {
		return s.Rooms(ctx, c)
	}))
	m.Handle("GET /v1/rooms/{room}", a.authed("room", ok, func(ctx context.Context, c caller, r *http.Request) (any, error) {
		return s.Room(ctx, c, r.PathValue("room"))
	}))
	m.Handle("PATCH /v1/rooms/{room}", a.authed("room.rename", ok, func(ctx context.Context, c caller, r *http.Request) (any, error) {
		var req api.RenameRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return s.Rename(ctx, c, r.PathValue("room"), req.Name)
	}))
	m.Handle("GET /v1/rooms/{room}/members", a.authed("members", ok, func(ctx context.Context, c caller, r *http.Request) (any, error) {
		return s.Members(ctx, c, r.PathValue("room"))
	}))
	m.Handle("POST /v1/rooms/{room}/members", a.authed("members.invite", ok, func(ctx context.Context, c caller, r *http.Request) (any, error) {
		var req api.InviteRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return s.Invite(ctx, c, r.PathValue("room"), req.Users)
	}))
	m.Handle("DELETE /v1/rooms/{room}/members/{user}", a.authed("members.remove", none, func(ctx context.Context, c caller, r *http.Request) (any, error) {
		return nil, s.RemoveMember(ctx, c, r.PathValue("room"), r.PathValue("user"))
	}))
	m.Handle("POST /v1/rooms/{room}/leave", a.authed("leave", none, func(ctx context.Context, c caller, r *http.Request) (any, error) {
		return nil, s.Leave(ctx, c, r.PathValue("room"))
	}))

	m.Handle("POST /v1/rooms/{room}/messages", a.authed("send", ok, func(ctx context.Context, c caller, r *http.Request) (any, error) {
		var req api.SendRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		if err := allow(a.cfg.SendLimit, c.Device); err != nil {
			return nil, err
		}
		return s.Send(ctx, c, r.PathValue("room"), req)
	}))
	m.Handle("PATCH /v1/rooms/{room}/messages/{seq}", a.authed("edit", ok, func(ctx context.Context, c caller, r *http.Request) (any, error) {
		seq, err := pathSeq(r)
		if err != nil {
			return nil, err
		}
		var req api.EditRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return s.Edit(ctx, c, r.PathValue("room"), seq, req)
	}))
	m.Handle("DELETE /v1/rooms/{room}/messages/{seq}", a.authed("delete", ok, func(ctx context.Context, c caller, r *http.Request) (any, error) {
		seq, err := pathSeq(r)
		if err != nil {
			return nil, err
		}
		id := r.URL.Query().Get("id")
		if id == "" {
			id = auth.NewID('x')
		}
		return s.Delete(ctx, c, r.PathValue("room"), seq, id)
	}))
	m.Handle("GET /v1/rooms/{room}/events", a.authed("history", ok, func(ctx context.Context, c caller, r *http.Request) (any, error) {
		after, err := uintParam(r, "after")
		if err != nil {
			return nil, err
		}
		before, err := uintParam(r, "before")
		if err != nil {
			return nil, err
		}
		limit, err := uintParam(r, "limit")
		if err != nil {
			return nil, err
		}
		return s.History(ctx, c, r.PathValue("room"), after, before, int(min(limit, api.MaxPageLimit)))
	}))
	m.Handle("POST /v1/rooms/{room}/receipts", a.authed("receipt", ok, func(ctx context.Context, c caller, r *http.Request) (any, error) {
		var req api.ReceiptRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return s.MarkReceipt(ctx, c, r.PathValue("room"), req)
	}))
	m.Handle("GET /v1/rooms/{room}/receipts", a.authed("receipts", ok, func(ctx context.Context, c caller, r *http.Request) (any, error) {
		return s.Receipts(ctx, c, r.PathValue("room"))
	}))
	m.Handle("/v1/", a.wrap("unknown", func(w http.ResponseWriter, r *http.Request) (any, int, error) {
		return nil, 0, api.Errorf(api.CodeNotFound, "no such endpoint: %s %s", r.Method, shorten(r.URL.Path))
	}))
}
