package statuspage

import (
	"cmp"
	"encoding/xml"
	"fmt"
	"slices"
	"time"

	"github.com/dandanchat/dandan/api"
)

// The Atom 1.0 feed (RFC 4287): one entry per public incident update.
type atomFeed struct {
	XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	ID      string      `xml:"id"`
	Title   string      `xml:"title"`
	Updated string      `xml:"updated"`
	Author  atomPerson  `xml:"author"`
	Links   []atomLink  `xml:"link"`
	Entries []atomEntry `xml:"entry"`
}

type atomPerson struct {
	Name string `xml:"name"`
}

type atomLink struct {
	Rel  string `xml:"rel,attr"`
	Type string `xml:"type,attr,omitempty"`
	Href string `xml:"href,attr"`
}

type atomEntry struct {
	ID      string      `xml:"id"`
	Title   string      `xml:"title"`
	Updated string      `xml:"updated"`
	Link    atomLink    `xml:"link"`
	Content atomContent `xml:"content"`
}

type atomContent struct {
	Type string `xml:"type,attr"`
	Body string `xml:",chardata"`
}

// feedID names the feed; entry ids extend it. Tag URIs (RFC 4151) stay the
// same whatever address the node answers on, so readers do not see the same
// update twice when a client switches sites.
const feedID = "tag:dandan,2026:status"

// feed builds the Atom feed of the page's incidents. The links are paths
// from the request (hrefs may be relative in Atom): the node does not trust
// the Host header to know its own public address.
func (h *Handler) feed(sp *api.StatusPage, base string) atomFeed {
	f := atomFeed{
		ID:     feedID,
		Title:  h.title,
		Author: atomPerson{Name: h.title},
		Links: []atomLink{
			{Rel: "self", Type: "application/atom+xml", Href: base + "/feed.atom"},
			{Rel: "alternate", Type: "text/html", Href: base},
		},
	}
	now := h.now().UTC()
	var newest time.Time
	for _, in := range sp.Incidents {
		// Number the updates from the oldest, so that an update keeps its
		// id when newer ones arrive.
		updates := slices.Clone(in.Updates)
		slices.Reverse(updates) // the api gives them newest first
		slices.SortStableFunc(updates, func(a, b api.IncidentUpdate) int {
			return parseTime(a.CreatedAt).Compare(parseTime(b.CreatedAt))
		})
		for n, u := range updates {
			at := cmp.Or(parseTime(u.CreatedAt), parseTime(in.UpdatedAt), now)
			if at.After(newest) {
				newest = at
			}
			f.Entries = append(f.Entries, atomEntry{
				ID:      fmt.Sprintf("tag:dandan,2026:incident/%s/%d", in.ID, n+1),
				Title:   in.Name + ": " + incidentStatus(u.Status),
				Updated: at.UTC().Format(time.RFC3339),
				Link:    atomLink{Rel: "alternate", Type: "text/html", Href: base},
				Content: atomContent{Type: "text", Body: u.Body},
			})
		}
	}
	// Newest first, as feed readers expect.
	slices.SortStableFunc(f.Entries, func(a, b atomEntry) int {
		return parseTime(b.Updated).Compare(parseTime(a.Updated))
	})
	updated := cmp.Or(parseTime(sp.Page.UpdatedAt), newest, now)
	f.Updated = updated.UTC().Format(time.RFC3339)
	return f
}
