package messenger

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/internal/auth"
	"github.com/dandanchat/dandan/internal/store"
	"github.com/nats-io/nats.go/jetstream"
)

// SignUp creates an account and signs in its first device.
func (s *Service) SignUp(ctx context.Context, r api.SignUpRequest) (*api.Session, error) {
	r.Handle = strings.ToLower(strings.TrimSpace(r.Handle))
	if !api.ValidHandle(r.Handle) {
		return nil, api.Errorf(api.CodeInvalid, "a handle is 3-32 letters, digits or _, starting with a letter")
	}
	if len(r.Password) < api.MinPasswordLen || len(r.Password) > api.MaxPasswordLen {
		return nil, api.Errorf(api.CodeInvalid, "a password is %d-%d characters", api.MinPasswordLen, api.MaxPasswordLen)
	}
	if r.Phone != "" && !api.ValidPhone(r.Phone) {
		return nil, api.Errorf(api.CodeInvalid, "a phone number is in international form, like +821012345678")
	}
	if err := api.CheckName("display name", r.DisplayName, api.MaxDisplayNameBytes); err != nil {
		return nil, err
	}
	if err := api.CheckName("device name", r.DeviceName, api.MaxDeviceNameBytes); err != nil {
		return nil, err
	}
	release, e := s.cfg.Hashing.Acquire(ctx)
	if e != nil {
		return nil, e
	}
	hash, err := auth.HashPassword(r.Password, s.cfg.Password)
	release()
	if err != nil {
		return nil, s.unavailable("hash password", err)
	}
	u := store.UserRecord{ID: auth.NewID('u'), Handle: r.Handle, DisplayName: r.DisplayName,
		Phone: r.Phone, PasswordHash: hash, Created: s.now()}
	// The user record first: a handle never points at a missing user.
	if err := store.PutJSON(ctx, s.st.Users, u.ID, u); err != nil {
		return nil, s.unavailable("put user", err)
	}
	if _, err := s.st.Handles.Create(ctx, u.Handle, []byte(u.ID)); err != nil {
		_ = s.st.Users.Purge(ctx, u.ID)
		if errors.Is(err, jetstream.ErrKeyExists) {
			return nil, api.Errorf(api.CodeHandleTaken, "the handle %q is taken", u.Handle)
		}
		return nil, s.unavailable("create handle", err)
	}
	return s.newSession(ctx, u, r.DeviceName)
}

// SignIn checks a handle and password and signs in a new device.
func (s *Service) SignIn(ctx context.Context, r api.SignInRequest) (*api.Session, error) {
	if err := api.CheckName("device name", r.DeviceName, api.MaxDeviceNameBytes); err != nil {
		return nil, err
	}
	bad := api.Errorf(api.CodeBadCredentials, "wrong handle or password")
	if len(r.Password) > api.MaxPasswordLen {
		return nil, bad
	}
	u, err := s.userByHandle(ctx, strings.ToLower(strings.TrimSpace(r.Handle)))
	if err != nil && !api.IsCode(err, api.CodeNotFound) {
		return nil, err
	}
	// Password hashing has a budget of its own: a login storm waits its
	// turn (or is refused with retry_after) instead of taking every core.
	release, e := s.cfg.Hashing.Acquire(ctx)
	if e != nil {
		return nil, e
	}
	if err != nil {
		auth.DummyVerify(r.Password, s.cfg.Password) // same time as a real check
		release()
		return nil, bad
	}
	ok, err := auth.VerifyPassword(u.PasswordHash, r.Password)
	release()
	if err != nil {
		s.log.Error("stored password hash unreadable", "user", u.ID, "err", err)
		return nil, api.Errorf(api.CodeInternal, "sign-in failed")
	}
	if !ok {
		return nil, bad
	}
	return s.newSession(ctx, u, r.DeviceName)
}

func (s *Service) newSession(ctx context.Context, u store.UserRecord, deviceName string) (*api.Session, error) {
	d := store.DeviceRecord{ID: auth.NewID('d'), User: u.ID, Name: deviceName, Created: s.now()}
	d.LastSeen = d.Created
	token, hash, err := auth.NewToken(d.ID)
	if err != nil {
		return nil, s.unavailable("new token", err)
	}
	d.SecretHash = hash
	if err := store.PutJSON(ctx, s.st.Devices, d.ID, d); err != nil {
		return nil, s.unavailable("put device", err)
	}
	if _, err := s.st.UserDevs.Put(ctx, store.MemberKey(u.ID, d.ID), nil); err != nil {
		return nil, s.unavailable("put user device", err)
	}
	return &api.Session{User: me(u), Device: device(d, d.ID), Token: token}, nil
}

// Authenticate resolves a device token. It is cheap (one hash, one lookup)
// so that reconnect storms do not overload a node.
func (s *Service) Authenticate(ctx context.Context, token string) (Caller, error) {
	deny := api.Errorf(api.CodeUnauthorized, "the token is invalid or was revoked; sign in again")
	id, secret, ok := auth.ParseToken(token)
	if !ok {
		return Caller{}, deny
	}
	var d store.DeviceRecord
	rev, err := s.st.GetJSON(ctx, s.st.Devices, id, &d)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return Caller{}, deny
		}
		return Caller{}, s.unavailable("get device", err)
	}
	if !auth.SecretMatches(secret, d.SecretHash) {
		return Caller{}, deny
	}
	if now := s.now(); now-d.LastSeen > lastSeenEvery.Milliseconds() {
		d.LastSeen = now
		go s.touch(d, rev)
	}
	return Caller{User: d.User, Device: d.ID}, nil
}

// lastSeenEvery is how stale a device's last-seen time may get before an
// authentication refreshes it (a write, so not on every request).
const lastSeenEvery = 5 * time.Minute

// touch stores d's new last-seen time, unless the device changed or was
// revoked meanwhile (compare-and-set on rev), so a revoked device never
// comes back.
func (s *Service) touch(d store.DeviceRecord, rev uint64) {
	b, err := json.Marshal(d)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = s.st.Devices.Update(ctx, d.ID, b, rev)
}

// SignOut revokes the caller's device.
func (s *Service) SignOut(ctx context.Context, c Caller) error {
	return s.revoke(ctx, c.User, c.Device)
}

// SignOutAll revokes every device of the caller.
func (s *Service) SignOutAll(ctx context.Context, c Caller) error {
	ids, err := s.deviceIDs(ctx, c.User)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := s.revoke(ctx, c.User, id); err != nil {
			return err
		}
	}
	return nil
}

// RevokeDevice signs out one of the caller's devices.
func (s *Service) RevokeDevice(ctx context.Context, c Caller, deviceID string) error {
	var d store.DeviceRecord
	if !api.ValidID(deviceID) {
		return api.Errorf(api.CodeNotFound, "no such device")
	}
	if _, err := s.st.GetJSON(ctx, s.st.Devices, deviceID, &d); err != nil || d.User != c.User {
		if err == nil || errors.Is(err, store.ErrNotFound) {
			return api.Errorf(api.CodeNotFound, "no such device")
		}
		return s.unavailable("get device", err)
	}
	return s.revoke(ctx, c.User, deviceID)
}

func (s *Service) revoke(ctx context.Context, user, deviceID string) error {
	if err := s.st.Devices.Purge(ctx, deviceID); err != nil {
		return s.unavailable("purge device", err)
	}
	if err := s.st.UserDevs.Purge(ctx, store.MemberKey(user, deviceID)); err != nil {
		return s.unavailable("purge user device", err)
	}
	// Every node closes that device's live connections.
	if err := s.nc.Publish(store.SubjectRevoked+"."+deviceID, nil); err != nil {
		s.log.Warn("announce revocation", "err", err)
	}
	return nil
}

func (s *Service) deviceIDs(ctx context.Context, user string) ([]string, error) {
	lister, err := s.st.UserDevs.ListKeysFiltered(ctx, user+".*")
	if err != nil {
		return nil, s.unavailable("list devices", err)
	}
	var ids []string
	for k := range lister.Keys() {
		ids = append(ids, strings.TrimPrefix(k, user+"."))
	}
	return ids, nil
}

// Devices lists the caller's devices.
func (s *Service) Devices(ctx context.Context, c Caller) ([]api.Device, error) {
	ids, err := s.deviceIDs(ctx, c.User)
	if err != nil {
		return nil, err
	}
	out := make([]api.Device, 0, len(ids))
	for _, id := range ids {
		var d store.DeviceRecord
		if _, err := s.st.GetJSON(ctx, s.st.Devices, id, &d); err != nil {
			continue // revoked meanwhile
		}
		out = append(out, device(d, c.Device))
	}
	return out, nil
}

// Me returns the caller's own profile.
func (s *Service) Me(ctx context.Context, c Caller) (*api.Me, error) {
	u, err := s.userByID(ctx, c.User)
	if err != nil {
		return nil, err
	}
	m := me(u)
	return &m, nil
}

// User looks a user up by handle or id.
func (s *Service) User(ctx context.Context, c Caller, handleOrID string) (*api.User, error) {
	u, err := s.resolveUser(ctx, handleOrID)
	if err != nil {
		return nil, err
	}
	pub := public(u)
	return &pub, nil
}

func (s *Service) resolveUser(ctx context.Context, handleOrID string) (store.UserRecord, error) {
	if api.ValidID(handleOrID) && handleOrID[0] == 'u' && len(handleOrID) == 17 {
		if u, err := s.userByID(ctx, handleOrID); err == nil {
			return u, nil
		}
	}
	return s.userByHandle(ctx, strings.ToLower(handleOrID))
}

func (s *Service) userByHandle(ctx context.Context, handle string) (store.UserRecord, error) {
	if !api.ValidHandle(handle) {
		return store.UserRecord{}, errNoUser
	}
	id, _, err := s.st.Get(ctx, s.st.Handles, handle)
	if errors.Is(err, store.ErrNotFound) {
		return store.UserRecord{}, errNoUser
	}
	if err != nil {
		return store.UserRecord{}, s.unavailable("get handle", err)
	}
	return s.userByID(ctx, string(id))
}

func (s *Service) userByID(ctx context.Context, id string) (store.UserRecord, error) {
	var u store.UserRecord
	if !api.ValidID(id) {
		return u, errNoUser
	}
	if _, err := s.st.GetJSON(ctx, s.st.Users, id, &u); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return u, errNoUser
		}
		return u, s.unavailable("get user", err)
	}
	return u, nil
}

func public(u store.UserRecord) api.User {
	return api.User{ID: u.ID, Handle: u.Handle, DisplayName: u.DisplayName}
}

func me(u store.UserRecord) api.Me {
	return api.Me{User: public(u), Phone: u.Phone, Created: u.Created}
}

func device(d store.DeviceRecord, current string) api.Device {
	return api.Device{ID: d.ID, Name: d.Name, Created: d.Created, LastSeen: d.LastSeen, Current: d.ID == current}
}
