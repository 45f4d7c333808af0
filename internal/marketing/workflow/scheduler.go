package workflow

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/automationworkflow"
	"github.com/omnisphere/omnisphere/ent/workflowenrollment"
	"github.com/omnisphere/omnisphere/ent/workflowstep"
	"github.com/omnisphere/omnisphere/internal/db"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// Reasons recorded in workflow_enrollments.exit_reason and last_error.
const (
	ReasonExitStep        = "exit step"
	ReasonCustomerDeleted = "customer deleted"
	ReasonStepMissing     = "step missing"
	// ReasonInterrupted: an email was claimed for sending by a process
	// that stopped before recording the outcome. It may or may not have
	// gone out; it is never sent again.
	ReasonInterrupted = "interrupted"
)

// errLostLease: another scheduler took the enrollment over (this one's
// lease ran out); what this one was about to write is rolled back.
var errLostLease = errors.New("workflow: lease lost")

// Run advances due enrollments until ctx ends, polling every PollInterval
// (and on Kick). Run it in every server process: each enrollment is
// claimed by one scheduler at a time (a lease in locked_until/locked_by
// taken by a conditional update), and everything it needs is in the
// database, so a restart loses nothing.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	for {
		if _, err := s.runDue(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "workflow: poll", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
	}
}

// RunOnce advances every enrollment due now (at the Service's clock) until
// none is left, and returns how many claims it made: tests and one-shot
// jobs.
func (s *Service) RunOnce(ctx context.Context) (int, error) {
	total := 0
	for ctx.Err() == nil {
		n, err := s.runDue(ctx)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
	return total, ctx.Err()
}

type dueEnrollment struct {
	ID         uuid.UUID
	MerchantID uuid.UUID
}

// runDue claims and advances one batch of due enrollments with Workers
// goroutines; it returns how many it claimed.
func (s *Service) runDue(ctx context.Context) (int, error) {
	due, err := s.due(ctx)
	if err != nil || len(due) == 0 {
		return 0, err
	}
	jobs := make(chan dueEnrollment)
	var mu sync.Mutex
	claimed := 0
	var wg sync.WaitGroup
	for range min(s.cfg.Workers, len(due)) {
		wg.Go(func() {
			for d := range jobs {
				ok, err := s.advanceOne(ctx, d)
				if err != nil && ctx.Err() == nil {
					s.log.ErrorContext(ctx, "workflow: enrollment", "enrollment", d.ID, "merchant", d.MerchantID, "err", err)
				}
				if ok {
					mu.Lock()
					claimed++
					mu.Unlock()
				}
			}
		})
	}
	for _, d := range due {
		if ctx.Err() != nil {
			break
		}
		jobs <- d
	}
	close(jobs)
	wg.Wait()
	return claimed, nil
}

// due lists enrollments to advance across stores (the system path): ACTIVE
// or WAITING, next_run_at passed, no live lease, workflow ACTIVE.
func (s *Service) due(ctx context.Context) ([]dueEnrollment, error) {
	sys := viewer.SystemLookupContext(ctx, "workflow: find due enrollments of every store")
	now := s.now()
	rows, err := s.db.Client.WorkflowEnrollment.Query().Where(
		workflowenrollment.StatusIn(workflowenrollment.StatusACTIVE, workflowenrollment.StatusWAITING),
		workflowenrollment.NextRunAtLTE(now),
		workflowenrollment.Or(workflowenrollment.LockedUntilIsNil(), workflowenrollment.LockedUntilLT(now)),
		workflowenrollment.HasWorkflowWith(automationworkflow.StatusEQ(automationworkflow.StatusACTIVE)),
	).Order(ent.Asc(workflowenrollment.FieldNextRunAt), ent.Asc(workflowenrollment.FieldID)).Limit(s.cfg.BatchSize).
		Select(workflowenrollment.FieldID, workflowenrollment.FieldMerchantID).All(sys)
	if err != nil {
		return nil, fmt.Errorf("workflow: due enrollments: %w", err)
	}
	out := make([]dueEnrollment, len(rows))
	for i, r := range rows {
		out[i] = dueEnrollment{ID: r.ID, MerchantID: r.MerchantID}
	}
	return out, nil
}

// claim takes the enrollment's lease if it is still due and free.
func (s *Service) claim(ctx context.Context, id uuid.UUID) (bool, error) {
	now := s.now()
	n, err := s.db.Client.WorkflowEnrollment.Update().Where(workflowenrollment.ID(id),
		workflowenrollment.StatusIn(workflowenrollment.StatusACTIVE, workflowenrollment.StatusWAITING),
		workflowenrollment.NextRunAtLTE(now),
		workflowenrollment.Or(workflowenrollment.LockedUntilIsNil(), workflowenrollment.LockedUntilLT(now)),
	).SetLockedUntil(now.Add(s.cfg.Lease)).SetLockedBy(s.cfg.WorkerID).Save(ctx)
	if err != nil {
		return false, fmt.Errorf("workflow: claim: %w", err)
	}
	return n == 1, nil
}

// run is one claimed enrollment's workflow, loaded once.
type run struct {
	mid   uuid.UUID
	w     *ent.AutomationWorkflow
	byPos map[int]*ent.WorkflowStep
	byID  map[uuid.UUID]*ent.WorkflowStep
	m     *ent.MerchantAccount // loaded on the first email
}

// after returns the step that follows st (to, when given, is a branch's
// position); nil at the end of the workflow.
func (r *run) after(st *ent.WorkflowStep, to *int) *ent.WorkflowStep {
	p := st.Position + 1
	if st.NextPosition != nil {
		p = *st.NextPosition
	}
	if to != nil {
		p = *to
	}
	if p <= st.Position { // jumps go forward only
		return nil
	}
	return r.byPos[p]
}

// advanceOne claims one enrollment and runs its steps until it waits,
// ends or fails. It reports whether it got the claim.
func (s *Service) advanceOne(ctx context.Context, d dueEnrollment) (bool, error) {
	mctx := viewer.ActAsStore(ctx, d.MerchantID, "workflow scheduler")
	ok, err := s.claim(mctx, d.ID)
	if err != nil || !ok {
		return false, err
	}
	err = s.walk(mctx, d)
	if err != nil && !errors.Is(err, errLostLease) {
		s.failAttempt(mctx, d.ID, err)
		return true, err
	}
	return true, nil
}

// walk runs the claimed enrollment's steps, one transaction per step.
func (s *Service) walk(ctx context.Context, d dueEnrollment) error {
	e, err := s.db.Client.WorkflowEnrollment.Get(ctx, d.ID)
	if err != nil {
		return err
	}
	w, err := s.db.Client.AutomationWorkflow.Get(ctx, e.WorkflowID)
	if err != nil {
		return err
	}
	if w.Status != automationworkflow.StatusACTIVE {
		return s.release(ctx, e.ID)
	}
	steps, err := s.db.Client.WorkflowStep.Query().Where(workflowstep.WorkflowID(w.ID)).All(ctx)
	if err != nil {
		return err
	}
	r := &run{mid: d.MerchantID, w: w, byPos: map[int]*ent.WorkflowStep{}, byID: map[uuid.UUID]*ent.WorkflowStep{}}
	for _, st := range steps {
		r.byPos[st.Position], r.byID[st.ID] = st, st
	}
	for i := 0; i < s.cfg.MaxStepsPerRun; i++ {
		if i > 0 {
			if e, err = s.db.Client.WorkflowEnrollment.Get(ctx, d.ID); err != nil {
				return err
			}
		}
		if e.LockedBy != s.cfg.WorkerID || (e.Status != workflowenrollment.StatusACTIVE && e.Status != workflowenrollment.StatusWAITING) {
			return nil
		}
		if ctx.Err() != nil {
			return s.release(context.WithoutCancel(ctx), e.ID)
		}
		var st *ent.WorkflowStep
		if e.CurrentStepID != nil {
			if st = r.byID[*e.CurrentStepID]; st == nil {
				_, err := s.apply(ctx, r, e, nil, advance{kind: advFail, reason: ReasonStepMissing})
				return err
			}
		}
		cont, err := s.step(ctx, r, e, st)
		if err != nil || !cont {
			return err
		}
	}
	return s.release(ctx, e.ID) // the rest at the next poll
}

// release gives the lease up, leaving the enrollment due.
func (s *Service) release(ctx context.Context, id uuid.UUID) error {
	return s.db.Client.WorkflowEnrollment.Update().Where(workflowenrollment.ID(id), workflowenrollment.LockedBy(s.cfg.WorkerID)).
		ClearLockedUntil().ClearLockedBy().Exec(ctx)
}

// failAttempt records a failed attempt at the current step: it is retried
// after RetryBackoff (doubling), and after MaxAttempts the enrollment is
// FAILED. A stop (ctx ended) only gives the lease up.
func (s *Service) failAttempt(ctx context.Context, id uuid.UUID, cause error) {
	stopped := ctx.Err() != nil
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if stopped {
		_ = s.release(ctx, id)
		return
	}
	e, err := s.db.Client.WorkflowEnrollment.Get(ctx, id)
	if err != nil || e.LockedBy != s.cfg.WorkerID {
		return
	}
	now := s.now()
	u := s.db.Client.WorkflowEnrollment.Update().Where(workflowenrollment.ID(id), workflowenrollment.LockedBy(s.cfg.WorkerID)).
		AddAttempts(1).SetLastError(truncate(cause.Error(), 2000)).ClearLockedUntil().ClearLockedBy()
	if e.Attempts+1 >= s.cfg.MaxAttempts {
		u.SetStatus(workflowenrollment.StatusFAILED).SetCompletedAt(now).ClearNextRunAt()
	} else {
		u.SetNextRunAt(now.Add(s.cfg.RetryBackoff << e.Attempts))
	}
	if err := u.Exec(ctx); err != nil {
		s.log.ErrorContext(ctx, "workflow: record failed attempt", "enrollment", id, "err", err)
	}
}

type advKind int

const (
	advNext  advKind = iota // go on with next (the end when nil)
	advWait                 // WAITING until runAt, then next
	advExit                 // EXITED with reason
	advFail                 // FAILED with reason
	advRetry                // the same step again at runAt
)

// advance is how a step moves its enrollment on.
type advance struct {
	kind   advKind
	next   *ent.WorkflowStep
	runAt  time.Time
	reason string
}

// apply moves the enrollment on within tx, only if this scheduler still
// holds it at step st (nil: at the end). It reports whether the run goes
// on in this claim.
func (s *Service) apply(ctx context.Context, r *run, e *ent.WorkflowEnrollment, st *ent.WorkflowStep, a advance) (bool, error) {
	cont := false
	err := db.InTx(ctx, s.db.Client, func(tx *ent.Client) error {
		var err error
		cont, err = s.applyTx(ctx, tx, r, e, st, a)
		return err
	})
	return cont, err
}

func (s *Service) applyTx(ctx context.Context, tx *ent.Client, r *run, e *ent.WorkflowEnrollment, st *ent.WorkflowStep, a advance) (bool, error) {
	now := s.now()
	u := tx.WorkflowEnrollment.Update().Where(workflowenrollment.ID(e.ID), workflowenrollment.LockedBy(s.cfg.WorkerID))
	if st != nil {
		u.Where(workflowenrollment.CurrentStepID(st.ID))
	} else {
		u.Where(workflowenrollment.CurrentStepIDIsNil())
	}
	if a.reason != "" {
		u.SetLastError(truncate(a.reason, 2000))
	}
	end := func(status workflowenrollment.Status) {
		u.SetStatus(status).ClearCurrentStepID().SetCompletedAt(now).ClearNextRunAt().ClearLockedUntil().ClearLockedBy()
	}
	cont := false
	completed := false
	switch {
	case a.kind == advNext && a.next != nil:
		u.SetCurrentStepID(a.next.ID).SetStatus(workflowenrollment.StatusACTIVE).SetAttempts(0).SetNextRunAt(now)
		cont = true
	case a.kind == advNext:
		end(workflowenrollment.StatusCOMPLETED)
		completed = true
	case a.kind == advWait:
		u.SetStatus(workflowenrollment.StatusWAITING).SetNextRunAt(a.runAt).SetAttempts(0).ClearLockedUntil().ClearLockedBy()
		if a.next != nil {
			u.SetCurrentStepID(a.next.ID)
		} else {
			u.ClearCurrentStepID()
		}
	case a.kind == advExit:
		end(workflowenrollment.StatusEXITED)
		u.SetExitReason(truncate(a.reason, 200))
	case a.kind == advFail:
		end(workflowenrollment.StatusFAILED)
	case a.kind == advRetry:
		u.AddAttempts(1).SetNextRunAt(a.runAt).ClearLockedUntil().ClearLockedBy()
	}
	n, err := u.Save(ctx)
	if err != nil {
		return false, err
	}
	if n == 0 {
		return false, errLostLease
	}
	if completed {
		if err := tx.AutomationWorkflow.UpdateOneID(r.w.ID).AddCompletedCount(1).Exec(ctx); err != nil {
			return false, err
		}
	}
	return cont, nil
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}
