package arcgis

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/arcgisrest"
)

// deepThreshold: above this many items, auto scan walks users' content
// because search stops at 10,000 results.
const deepThreshold = arcgisrest.MaxSearchResults

// incrementalBuffer widens modified_within so an edit made while the last
// run was listing is never missed.
const incrementalBuffer = 6 * time.Hour

// listWorkers bound the concurrent requests of a listing.
const listWorkers = 16

// rawItem is the part of the item JSON the source reads.
type rawItem struct {
	ID           string   `json:"id"`
	Owner        string   `json:"owner"`
	Title        string   `json:"title"`
	Type         string   `json:"type"`
	TypeKeywords []string `json:"typeKeywords"`
	Tags         []string `json:"tags"`
	Created      int64    `json:"created"`
	Modified     int64    `json:"modified"`
	Access       string   `json:"access"`
	Size         *int64   `json:"size"`
	URL          string   `json:"url"`
	OwnerFolder  *string  `json:"ownerFolder"`
	Protected    bool     `json:"protected"`
}

// listed is an item on its way from a listing to fn.
type listed struct {
	item sdk.Item
	// folderKnown: the listing said which folder the item is in (content
	// listings do; search results may not).
	folderKnown bool
}

type itemSharing struct {
	Access string   `json:"access"`
	Groups []string `json:"groups"`
}

// ListItems lists the items of the run, filtered, with excluded items
// reported with their reason. fn is never called concurrently.
func (s *Source) ListItems(ctx context.Context, req sdk.ListItemsRequest, fn func(sdk.ListedItem) error) error {
	if s.info.Username == "" {
		return sdk.Permanent("arcgis source: ListItems before Connect")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	since := time.Time{}
	if s.info.Mode == "online" {
		since = req.Since
		if s.cfg.Within > 0 {
			if w := s.now().Add(-s.cfg.Within); w.After(since) {
				since = w
			}
		}
		if !since.IsZero() {
			since = since.Add(-incrementalBuffer)
		}
	}

	s.mu.Lock()
	s.warnings = nil
	s.mu.Unlock()
	groups, err := s.itemGroups(ctx)
	if err != nil {
		return err
	}
	l := &lister{s: s, groups: groups, since: since, seen: map[string]bool{}, folders: map[string]*ownerFolders{}}
	l.sharing = map[string]itemSharing{}
	if len(req.Retry) > 0 {
		l.retry = make(map[string]bool, len(req.Retry))
		for _, id := range req.Retry {
			l.retry[id] = true
		}
	}

	items := make(chan listed, 256)
	var produceErr error
	go func() {
		defer close(items)
		produceErr = l.produce(ctx, items)
	}()

	var (
		wg       sync.WaitGroup
		emitMu   sync.Mutex
		errOnce  sync.Once
		firstErr error
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	for range listWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for li := range items {
				out, err := l.finish(ctx, li)
				if err != nil {
					fail(err)
					continue
				}
				emitMu.Lock()
				if firstErr == nil {
					if err := fn(out); err != nil {
						emitMu.Unlock()
						fail(err)
						continue
					}
				}
				emitMu.Unlock()
			}
		}()
	}
	wg.Wait()
	s.mu.Lock()
	s.sharing = l.sharing
	s.listed = l.n
	s.mu.Unlock()
	if firstErr != nil {
		return firstErr
	}
	if produceErr != nil {
		return produceErr
	}
	// The count was taken at sign-in, before this run made its temporary
	// export items, and may include other runs' ones: an item is missing
	// only when even those cannot make up the difference.
	if msg := completenessWarning(l.n, l.temp, s.info.ItemCount, l.scan, s.info.Username); msg != "" {
		s.warn(msg)
	}
	return nil
}

type lister struct {
	s      *Source
	groups map[string][]string // item id -> group ids
	since  time.Time
	// retry are items an earlier run did not back up: changed whatever
	// their dates (read-only once listing starts).
	retry map[string]bool

	mu   sync.Mutex
	seen map[string]bool
	n    int64
	// scan is the scan produce chose: quick, deep, own content or search.
	scan string
	// temp counts temporary export items seen and left out.
	temp    int64
	sharing map[string]itemSharing
	folders map[string]*ownerFolders
}

// produce runs the scan that fits the user and the organization, and
// records which one in l.scan.
func (l *lister) produce(ctx context.Context, out chan<- listed) error {
	s := l.s
	if s.cfg.APIKey != "" {
		l.scan = "search"
		return l.quick(ctx, out)
	}
	if !s.info.IsAdmin {
		l.scan = "own content"
		return l.walkUser(ctx, s.info.Username, out)
	}
	mode := s.cfg.Scan
	if mode == "auto" || mode == "" {
		mode = "quick"
		if s.info.ItemCount > deepThreshold {
			mode = "deep"
		}
	}
	l.scan = mode
	if mode == "deep" {
		return l.deep(ctx, out)
	}
	return l.quick(ctx, out)
}

// completenessWarning compares the items listed (temp: this and other
// runs' temporary export items, listed but left out) with the count the
// portal gave at sign-in, and says what a mismatch means for this scan,
// or "" when they agree. Only a quick scan can be helped by a deep one; a
// listing above the count misses nothing (items created since sign-in).
func completenessWarning(listed, temp, count int64, scan, user string) string {
	switch {
	case count < 0:
		return ""
	case listed+temp < count:
		msg := fmt.Sprintf("completeness check: the listing found %d items but the portal counts %d; some items may be missing from this backup", listed, count)
		switch scan {
		case "quick", "search":
			return msg + fmt.Sprintf(" (search index lag, or items %s cannot see). If this persists, set scan = \"deep\", which walks every user's folders instead of the search index.", user)
		default: // deep, own content: already walked folder by folder
			return msg + fmt.Sprintf(" (items created or deleted during the run, or items %s cannot see although the count includes them). The %s scan already walked every folder; if this persists, compare the portal's content page with Inventory.csv.", user, scan)
		}
	case listed > count:
		return fmt.Sprintf("completeness check: the listing found %d items, more than the %d the portal counted at sign-in: items were created during the run, or the count lags; nothing is missing for that reason", listed, count)
	}
	return ""
}

// send dedupes by id and hands the item on.
func (l *lister) send(ctx context.Context, out chan<- listed, raw json.RawMessage, folderID, folderTitle string, folderKnown bool) error {
	var ri rawItem
	if err := json.Unmarshal(raw, &ri); err != nil || ri.ID == "" {
		return nil // not an item (a malformed entry); the completeness check will show it
	}
	// Temporary export items (this run's or another's) are agolpipe's own
	// scratch, not the organization's content: never backed up, and kept
	// apart from the completeness count because they come and go mid-run.
	// Only agolpipe's mark says so, never the title: an item a person
	// titled "agolpipe-export ..." is backed up like any other.
	temp := sdk.IsTempExportItem(ri.Type, ri.TypeKeywords, ri.Tags)
	l.mu.Lock()
	dup := l.seen[ri.ID]
	l.seen[ri.ID] = true
	if !dup {
		if temp {
			l.temp++
		} else {
			l.n++
		}
	}
	l.mu.Unlock()
	if dup || temp {
		return nil
	}
	it := sdk.Item{
		ID: ri.ID, Title: ri.Title, Type: ri.Type, TypeKeywords: ri.TypeKeywords, Owner: ri.Owner,
		FolderID: folderID, FolderTitle: folderTitle, Access: ri.Access, URL: ri.URL, Tags: ri.Tags,
		Protected: ri.Protected, Size: -1, Raw: append(json.RawMessage(nil), raw...),
	}
	if ri.Created > 0 {
		it.Created = time.UnixMilli(ri.Created).UTC()
	}
	if ri.Modified > 0 {
		it.Modified = time.UnixMilli(ri.Modified).UTC()
	}
	if ri.Size != nil {
		it.Size = *ri.Size
	}
	if ri.URL != "" && slices.Contains(ri.TypeKeywords, "Hosted Service") {
		// The organization's own hosting server: exporters' requests to it
		// need the token (a federated server may be on another host).
		if u, err := url.Parse(ri.URL); err == nil && u.Scheme == "https" || err == nil && u.Scheme == "http" && isLoopback(u.Hostname()) {
			l.s.c.trust(u.Host)
		}
	}
	if !folderKnown && ri.OwnerFolder != nil {
		it.FolderID = *ri.OwnerFolder
		folderKnown = true
	}
	select {
	case out <- listed{item: it, folderKnown: folderKnown}:
		return nil
	case <-ctx.Done():
		return &sdk.Error{Kind: sdk.KindCanceled, Err: ctx.Err()}
	}
}

// quick lists through search, in created-date windows of at most 10,000
// results each, because paging past 10,000 repeats pages.
func (l *lister) quick(ctx context.Context, out chan<- listed) error {
	base := "orgid:" + l.s.info.OrgID
	var walk func(lo, hi int64) error
	walk = func(lo, hi int64) error {
		q := base
		if lo > 0 || hi > 0 {
			q = fmt.Sprintf("%s AND created:[%d TO %d]", base, lo, hi)
		}
		total, err := l.count(ctx, q)
		if err != nil {
			return err
		}
		if total > arcgisrest.MaxSearchResults && hi-lo > 1 {
			mid := lo + (hi-lo)/2
			if err := walk(lo, mid); err != nil {
				return err
			}
			return walk(mid+1, hi)
		}
		return arcgisrest.ForEachPage(ctx, l.retrying(), arcgisrest.JSON("search", url.Values{"q": {q}, "sortField": {"created"}, "sortOrder": {"asc"}}), l.s.cfg.PageSize,
			func(_ arcgisrest.Page, body []byte) error {
				var r struct {
					Results []json.RawMessage `json:"results"`
				}
				if err := json.Unmarshal(body, &r); err != nil {
					return sdk.Permanent("search page: %v", err)
				}
				for _, raw := range r.Results {
					if err := l.send(ctx, out, raw, "", "", false); err != nil {
						return err
					}
				}
				return nil
			})
	}
	total, err := l.count(ctx, base)
	if err != nil {
		return err
	}
	if total <= arcgisrest.MaxSearchResults {
		return walk(0, 0)
	}
	return walk(0, l.s.now().UnixMilli()+24*3600*1000)
}

func (l *lister) count(ctx context.Context, q string) (int, error) {
	var pg arcgisrest.Page
	err := l.s.c.getJSON(ctx, arcgisrest.JSON("search", url.Values{"q": {q}, "num": {"0"}}), &pg)
	return pg.Total, err
}

// retrying is the source's Do with retries, for paging helpers.
func (l *lister) retrying() arcgisrest.Portal {
	return func(ctx context.Context, req sdk.PortalRequest) (*sdk.PortalResponse, error) {
		var resp *sdk.PortalResponse
		err := l.s.c.retry(ctx, func() error {
			var err error
			resp, err = l.s.c.do(ctx, req)
			return err
		})
		return resp, err
	}
}

// deep walks every member's root folder and folders.
func (l *lister) deep(ctx context.Context, out chan<- listed) error {
	users, err := l.s.users(ctx)
	if err != nil {
		return err
	}
	jobs := make(chan string)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range jobs {
				if err := l.walkUser(ctx, u, out); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		}()
	}
feed:
	for _, u := range users {
		select {
		case jobs <- u.Username:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

// walkUser lists one user's root items and each folder's items.
func (l *lister) walkUser(ctx context.Context, username string, out chan<- listed) error {
	var folders []folder
	base := "content/users/" + url.PathEscape(username)
	err := arcgisrest.ForEachPage(ctx, l.retrying(), arcgisrest.JSON(base, nil), l.s.cfg.PageSize, func(pg arcgisrest.Page, body []byte) error {
		var r userContent
		if err := json.Unmarshal(body, &r); err != nil {
			return sdk.Permanent("content of %s: %v", username, err)
		}
		if pg.Start <= 1 || folders == nil {
			folders = r.Folders
		}
		for _, raw := range r.Items {
			if err := l.send(ctx, out, raw, "", "", true); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("listing the content of %s: %w", username, err)
	}
	of := &ownerFolders{titles: map[string]string{}}
	for _, f := range folders {
		of.titles[f.ID] = f.Title
		err := arcgisrest.ForEachPage(ctx, l.retrying(), arcgisrest.JSON(base+"/"+url.PathEscape(f.ID), nil), l.s.cfg.PageSize, func(_ arcgisrest.Page, body []byte) error {
			var r userContent
			if err := json.Unmarshal(body, &r); err != nil {
				return sdk.Permanent("folder %s of %s: %v", f.Title, username, err)
			}
			for _, raw := range r.Items {
				if err := l.send(ctx, out, raw, f.ID, f.Title, true); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("listing folder %q of %s: %w", f.Title, username, err)
		}
	}
	l.mu.Lock()
	if _, ok := l.folders[username]; !ok {
		of.done = true
		l.folders[username] = of
	}
	l.mu.Unlock()
	return nil
}

type userContent struct {
	Items   []json.RawMessage `json:"items"`
	Folders []folder          `json:"folders"`
}

type folder struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

// ownerFolders is one owner's folders: titles by id and, for search results
// without ownerFolder, the folder of each item.
type ownerFolders struct {
	once     sync.Once
	warnOnce sync.Once
	done     bool
	err      error
	titles   map[string]string
	byItem   map[string]string
}

// folderOf fills an item's folder from its owner's folder listing (quick
// scan), walking that owner's folders once.
func (l *lister) folderOf(ctx context.Context, it *sdk.Item, known bool) error {
	l.mu.Lock()
	of, ok := l.folders[it.Owner]
	if !ok {
		of = &ownerFolders{}
		l.folders[it.Owner] = of
	}
	l.mu.Unlock()
	of.once.Do(func() {
		if of.done {
			return
		}
		of.titles, of.byItem = map[string]string{}, map[string]string{}
		base := "content/users/" + url.PathEscape(it.Owner)
		var r userContent
		if of.err = l.s.c.getJSON(ctx, arcgisrest.JSON(base, url.Values{"num": {"1"}}), &r); of.err != nil {
			return
		}
		for _, f := range r.Folders {
			of.titles[f.ID] = f.Title
			if known {
				continue // items say their folder; titles are enough
			}
			of.err = arcgisrest.ForEachPage(ctx, l.retrying(), arcgisrest.JSON(base+"/"+url.PathEscape(f.ID), nil), 100, func(_ arcgisrest.Page, body []byte) error {
				var fr struct {
					Items []struct {
						ID string `json:"id"`
					} `json:"items"`
				}
				if err := json.Unmarshal(body, &fr); err != nil {
					return err
				}
				for _, x := range fr.Items {
					of.byItem[x.ID] = f.ID
				}
				return nil
			})
			if of.err != nil {
				return
			}
		}
	})
	if of.err != nil {
		if sdk.KindOf(of.err) == sdk.KindCanceled {
			return of.err
		}
		// Folders are for layout and filters, not worth failing the run:
		// the item stays, in its owner's root as far as we can tell.
		of.warnOnce.Do(func() {
			l.s.warn(fmt.Sprintf("could not read the folders of %s, so their items are placed as if in the root folder: %v", it.Owner, of.err))
		})
		return nil
	}
	if !known && of.byItem != nil {
		it.FolderID = of.byItem[it.ID]
	}
	if it.FolderID != "" && it.FolderTitle == "" {
		it.FolderTitle = of.titles[it.FolderID]
	}
	return nil
}

// finish completes an item (folder, groups, data edit date, dependencies),
// judges it against the filters and the incremental window.
func (l *lister) finish(ctx context.Context, li listed) (sdk.ListedItem, error) {
	it := li.item
	if it.FolderTitle == "" && (it.FolderID != "" || !li.folderKnown) {
		if err := l.folderOf(ctx, &it, li.folderKnown); err != nil {
			return sdk.ListedItem{}, err
		}
	}
	it.Groups = l.groups[it.ID]
	l.mu.Lock()
	l.sharing[it.ID] = itemSharing{Access: it.Access, Groups: it.Groups}
	l.mu.Unlock()

	f := &l.s.cfg.Filters
	if reason := f.judge(&it); reason != "" {
		return sdk.ListedItem{Item: it, Excluded: true, Reason: reason}, nil
	}
	// When the last data edit cannot be read, an incremental run backs the
	// service up rather than judge it by its item date, which data edits
	// do not move.
	dataUnknown := false
	if isHostedFeatureService(&it) && (!l.since.IsZero() || l.s.cfg.Deps) {
		dm, err := l.s.dataModified(ctx, it.URL)
		if err != nil && sdk.KindOf(err) == sdk.KindCanceled {
			return sdk.ListedItem{}, err
		}
		it.DataModified, dataUnknown = dm, err != nil
	}
	if !l.since.IsZero() && !dataUnknown && !l.retry[it.ID] {
		// An item changed when its item record (title, description,
		// popups and other /data, resources: all move modified) or, for a
		// hosted feature service, its layers' data or schema changed — the
		// later of the two dates decides; neither replaces the other.
		changed, what := it.Modified, "item modified "+it.Modified.Format(time.RFC3339)
		if isHostedFeatureService(&it) && !it.DataModified.IsZero() {
			what += " and last data/schema edit " + it.DataModified.Format(time.RFC3339) + " are"
			if it.DataModified.After(changed) {
				changed = it.DataModified
			}
		} else {
			what += " is"
		}
		if changed.Before(l.since) {
			return sdk.ListedItem{Item: it, Excluded: true, Reason: fmt.Sprintf("unchanged: %s before %s (modified_within, with a 6 h margin)", what, l.since.UTC().Format(time.RFC3339))}, nil
		}
	}
	if l.s.cfg.Deps {
		deps, err := l.s.dependencies(ctx, &it)
		if err != nil && sdk.KindOf(err) == sdk.KindCanceled {
			return sdk.ListedItem{}, err
		}
		it.Dependencies = deps
	}
	return sdk.ListedItem{Item: it}, nil
}

func isHostedFeatureService(it *sdk.Item) bool {
	return it.Type == "Feature Service" && it.URL != "" && strings.Contains(it.URL, "/FeatureServer")
}

// dataModified is the latest data or schema edit (editingInfo) of a
// feature service's layers and tables, zero when the service does not say.
func (s *Source) dataModified(ctx context.Context, serviceURL string) (time.Time, error) {
	if u, err := url.Parse(serviceURL); err == nil && s.info.Mode == "enterprise" {
		s.c.trust(u.Host) // the hosting server of this portal
	}
	var r struct {
		Layers []layerEdit `json:"layers"`
		Tables []layerEdit `json:"tables"`
	}
	if err := s.c.getJSON(ctx, arcgisrest.JSON(strings.TrimRight(serviceURL, "/")+"/layers", nil), &r); err != nil {
		return time.Time{}, err
	}
	var max int64
	for _, x := range append(r.Layers, r.Tables...) {
		// lastEditDate covers data and schema; older servers report only
		// some of the three.
		max = slices.Max([]int64{max, x.EditingInfo.LastEditDate, x.EditingInfo.SchemaLastEditDate, x.EditingInfo.DataLastEditDate})
	}
	if max == 0 {
		return time.Time{}, nil
	}
	return time.UnixMilli(max).UTC(), nil
}

type layerEdit struct {
	EditingInfo struct {
		LastEditDate       int64 `json:"lastEditDate"`
		SchemaLastEditDate int64 `json:"schemaLastEditDate"`
		DataLastEditDate   int64 `json:"dataLastEditDate"`
	} `json:"editingInfo"`
}

// users lists every member of the organization.
func (s *Source) users(ctx context.Context) ([]user, error) {
	us, _, err := s.usersRaw(ctx)
	return us, err
}

// usersRaw lists every member, with each member's JSON as the portal gave it.
func (s *Source) usersRaw(ctx context.Context) ([]user, []json.RawMessage, error) {
	var out []user
	var raws []json.RawMessage
	collect := func(key string) func(arcgisrest.Page, []byte) error {
		return func(_ arcgisrest.Page, body []byte) error {
			var r map[string]json.RawMessage
			if err := json.Unmarshal(body, &r); err != nil {
				return sdk.Permanent("users page: %v", err)
			}
			var rs []json.RawMessage
			if err := json.Unmarshal(r[key], &rs); err != nil {
				return sdk.Permanent("users page: %v", err)
			}
			for _, raw := range rs {
				var u user
				if json.Unmarshal(raw, &u) == nil && u.Username != "" {
					out = append(out, u)
					raws = append(raws, raw)
				}
			}
			return nil
		}
	}
	l := &lister{s: s}
	err := arcgisrest.ForEachPage(ctx, l.retrying(), arcgisrest.JSON("portals/self/users", url.Values{"excludeSystemUsers": {"true"}}), 100, collect("users"))
	if sdk.IsNotFound(err) {
		out, raws = nil, nil
		err = arcgisrest.ForEachPage(ctx, l.retrying(), arcgisrest.JSON("portals/self/users/search", url.Values{"q": {"*"}}), 100, collect("results"))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("listing the organization's members: %w", err)
	}
	return out, raws, nil
}

// group is an org group as the groups search gives it.
type group struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Owner string `json:"owner"`
	Raw   json.RawMessage
}

// orgGroups lists the organization's groups (those the user may see).
func (s *Source) orgGroups(ctx context.Context) ([]group, error) {
	var out []group
	l := &lister{s: s}
	err := arcgisrest.ForEachPage(ctx, l.retrying(), arcgisrest.JSON("community/groups", url.Values{"q": {"orgid:" + s.info.OrgID}}), 100, func(_ arcgisrest.Page, body []byte) error {
		var r struct {
			Results []json.RawMessage `json:"results"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			return sdk.Permanent("groups page: %v", err)
		}
		for _, raw := range r.Results {
			var g group
			if json.Unmarshal(raw, &g) == nil && g.ID != "" {
				g.Raw = raw
				out = append(out, g)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing the organization's groups: %w", err)
	}
	return out, nil
}

// resolveGroups turns group titles in the filters into ids.
func (s *Source) resolveGroups(ctx context.Context) error {
	f := &s.cfg.Filters
	if !f.needGroups() {
		return nil
	}
	gs, err := s.orgGroups(ctx)
	if err != nil {
		return s.where(err, "resolving group filters")
	}
	resolve := func(names []string, attr string) (map[string]bool, error) {
		out := map[string]bool{}
		for _, n := range names {
			found := false
			for _, g := range gs {
				if g.ID == n || strings.EqualFold(g.Title, n) {
					out[g.ID] = true
					found = true
				}
			}
			if !found {
				return nil, sdk.Permanent("%s: no group titled or with id %q is visible to %s in %s; check the spelling, or use the group id", attr, n, s.info.Username, s.cfg.URL)
			}
		}
		return out, nil
	}
	if f.groupIDs, err = resolve(f.Groups, "groups"); err != nil {
		return err
	}
	f.excludeGroupIDs, err = resolve(f.ExcludeGroups, "exclude_groups")
	return err
}

// itemGroups maps every item to the groups it is shared with, from each
// group's content: one listing per group instead of one request per item.
func (s *Source) itemGroups(ctx context.Context) (map[string][]string, error) {
	gs, err := s.orgGroups(ctx)
	if err != nil {
		return nil, s.where(err, "listing groups for sharing")
	}
	// Groups are listed concurrently (a serial pass over 50 groups cost a
	// 16-item run 2.5 s at 50 ms a request); results are merged in group
	// order so every item's group list is the same from run to run.
	l := &lister{s: s}
	ids := make([][]string, len(gs))
	errs := make([]error, len(gs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(listWorkers, len(gs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				g := gs[i]
				errs[i] = arcgisrest.ForEachPage(ctx, l.retrying(), arcgisrest.JSON("content/groups/"+url.PathEscape(g.ID), nil), 100, func(_ arcgisrest.Page, body []byte) error {
					var r struct {
						Items []struct {
							ID string `json:"id"`
						} `json:"items"`
					}
					if err := json.Unmarshal(body, &r); err != nil {
						return sdk.Permanent("group content: %v", err)
					}
					for _, x := range r.Items {
						ids[i] = append(ids[i], x.ID)
					}
					return nil
				})
			}
		}()
	}
	for i := range gs {
		next <- i
	}
	close(next)
	wg.Wait()
	out := map[string][]string{}
	for i, g := range gs {
		if err := errs[i]; err != nil {
			k := sdk.KindOf(err)
			if k == sdk.KindCanceled || k == sdk.KindRetryable || k == sdk.KindAuth {
				return nil, s.where(err, "listing the content of group "+strconv.Quote(g.Title))
			}
			// A group the user may see but not list: its sharing stays
			// unknown rather than failing the run.
			s.warn(fmt.Sprintf("could not list the items of group %q (%s): %v", g.Title, g.ID, err))
			continue
		}
		for _, id := range ids[i] {
			out[id] = append(out[id], g.ID)
		}
	}
	return out, nil
}
