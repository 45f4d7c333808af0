package popup

import (
	"context"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/capturepopup"
)

// maxActive bounds the live popups one storefront page considers.
const maxActive = 200

// Active returns the popups of store merchantID that the visitor should see
// on pagePath now, highest priority first (then oldest): ACTIVE, inside
// their schedule window, targeting the page (Targeting.Matches: the path is
// normalised, its query string and fragment ignored) and allowed by their
// frequency cap for this visitor (Eligible). The storefront shows the first
// one and reports it with RecordImpression. Use SettingsOf for each popup's
// triggers.
func (s *Service) Active(ctx context.Context, merchantID uuid.UUID, pagePath string, visitor VisitorState) ([]*ent.CapturePopup, error) {
	sctx, err := storeContext(ctx, merchantID, "active popups")
	if err != nil {
		return nil, err
	}
	now := s.now()
	rows, err := s.client.CapturePopup.Query().
		Where(capturepopup.StatusEQ(capturepopup.StatusACTIVE),
			capturepopup.Or(capturepopup.StartsAtIsNil(), capturepopup.StartsAtLTE(now)),
			capturepopup.Or(capturepopup.EndsAtIsNil(), capturepopup.EndsAtGT(now))).
		Order(ent.Desc(capturepopup.FieldPriority), ent.Asc(capturepopup.FieldCreatedAt), ent.Asc(capturepopup.FieldID)).
		Limit(maxActive).All(sctx)
	if err != nil {
		return nil, err
	}
	np := NormalizePath(pagePath)
	out := make([]*ent.CapturePopup, 0, len(rows))
	for _, p := range rows {
		st := SettingsOf(p)
		if Live(p, now) && TargetingOf(st).Matches(np) && Eligible(p.ID, st.Frequency, visitor, now) {
			out = append(out, p)
		}
	}
	return out, nil
}

// RecordImpression counts one view of popup popupID, as the storefront
// reports it: an atomic views_count + 1 in the database, so concurrent
// reports from several server processes all count. A popup that is not
// ACTIVE (paused since the page loaded) is not counted and answers nil; an
// id the store does not have answers ErrNotFound. The caller rate-limits
// this anonymous endpoint.
func (s *Service) RecordImpression(ctx context.Context, merchantID, popupID uuid.UUID) error {
	sctx, err := storeContext(ctx, merchantID, "popup impression")
	if err != nil {
		return err
	}
	n, err := s.client.CapturePopup.Update().
		Where(capturepopup.ID(popupID), capturepopup.StatusEQ(capturepopup.StatusACTIVE)).
		AddViewsCount(1).Save(sctx)
	if err != nil || n > 0 {
		return err
	}
	exists, err := s.client.CapturePopup.Query().Where(capturepopup.ID(popupID)).Exist(sctx)
	if err != nil {
		return err
	}
	if !exists {
		return ErrNotFound
	}
	return nil
}
