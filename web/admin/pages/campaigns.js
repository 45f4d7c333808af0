// #/campaigns — the store's email campaigns (status filter, Relay paging,
// counters kept live for campaigns that are sending) — and
// #/campaigns/<id>: live progress through campaignProgress, the counters,
// and the actions the campaign's status allows (send, pause, resume,
// cancel) with their userErrors.

import { formatMoney } from '/assets/lib/gql.js';
import {
  badge,
  connectionIndicator,
  dl,
  emptyState,
  ensureStyles,
  errorState,
  fmtNumber,
  h,
  latest,
  loadingState,
  pager,
  render,
  section,
  timeEl,
  userErrorsBox,
} from './util.js';

const PAGE_SIZE = 20;
const LIVE_IN_LIST = 10;

const LIST_FIELDS = `id name subject status scheduledAt startedAt completedAt createdAt recipientsCount sentCount failedCount bouncedCount uniqueOpenedCount uniqueClickedCount segment { id name }`;

const CAMPAIGNS_QUERY = `query AdminCampaigns($first: Int, $after: Cursor, $last: Int, $before: Cursor, $where: EmailCampaignWhereInput) {
  emailCampaigns(first: $first, after: $after, last: $last, before: $before, where: $where, orderBy: { field: CREATED_AT, direction: DESC }) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { node { ${LIST_FIELDS} } }
  }
}`;

// The campaign's own fields. The mutations ask for these only: their
// payload's campaign cannot load its edges (segment, template), which the
// view keeps from its query.
const CAMPAIGN_SCALARS = `id name subject preheader fromName fromEmail replyTo status
  scheduledAt startedAt completedAt pausedAt cancelledAt failureReason createdAt updatedAt
  recipientsCount sentCount failedCount bouncedCount openedCount uniqueOpenedCount clickedCount uniqueClickedCount unsubscribedCount complainedCount
  sendRatePerMinute trackOpens trackClicks`;
const CAMPAIGN_FIELDS = `${CAMPAIGN_SCALARS}
  segment { id name memberCount }
  template { id name }`;

const CAMPAIGN_QUERY = `query AdminCampaign($id: ID!) {
  node(id: $id) { ... on EmailCampaign { ${CAMPAIGN_FIELDS} attribution { revenue { amount currencyCode } orders windowHours } } }
}`;

const PROGRESS_SUBSCRIPTION = `subscription AdminCampaignProgress($campaignId: ID!) {
  campaignProgress(campaignId: $campaignId) { eventId occurredAt campaignId status recipients sent failed opened clicked }
}`;

const mutation = (name) => `mutation AdminCampaign${name[0].toUpperCase()}${name.slice(1)}($id: ID!) {
  ${name}(id: $id) { campaign { ${CAMPAIGN_SCALARS} } userErrors { field message code } }
}`;

// The actions by status, as internal/marketing/campaign allows them.
const ACTIONS = {
  send: { mutation: 'campaignSend', label: 'Send now', busy: 'Sending…', done: 'The campaign is sending.', kind: 'primary' },
  pause: { mutation: 'campaignPause', label: 'Pause', busy: 'Pausing…', done: 'The campaign is paused.' },
  resume: { mutation: 'campaignResume', label: 'Resume', busy: 'Resuming…', done: 'The campaign resumed.', kind: 'primary' },
  cancel: { mutation: 'campaignCancel', label: 'Cancel campaign', busy: 'Cancelling…', done: 'The campaign is cancelled.', kind: 'danger', confirm: 'Cancel this campaign? Emails not sent yet will never be sent.' },
};
export const ACTIONS_BY_STATUS = {
  DRAFT: ['send', 'cancel'],
  SCHEDULED: ['send', 'pause', 'cancel'],
  SENDING: ['pause', 'cancel'],
  PAUSED: ['resume', 'cancel'],
  SENT: [],
  CANCELLED: [],
  FAILED: [],
};
const LIVE_STATUSES = new Set(['SCHEDULED', 'SENDING', 'PAUSED']);
const STATUS_KIND = { DRAFT: 'muted', SCHEDULED: 'info', SENDING: 'info', PAUSED: 'warn', SENT: 'ok', CANCELLED: 'muted', FAILED: 'bad' };
const STATUSES = ['DRAFT', 'SCHEDULED', 'SENDING', 'PAUSED', 'SENT', 'CANCELLED', 'FAILED'];

const remembered = { status: '', page: null };

const pct = (part, whole) => (whole > 0 ? Math.min(100, Math.round((part / whole) * 1000) / 10) : 0);

export default async function mount(el, ctx, params = []) {
  ensureStyles();
  if (params[0]) return mountDetail(el, ctx, decodeURIComponent(params[0]));
  return mountList(el, ctx);
}

// The list -----------------------------------------------------------------

function mountList(el, ctx) {
  const { client } = ctx;
  const loads = latest();
  let page = remembered.page || { first: PAGE_SIZE };
  const live = new Map(); // campaign id → unsubscribe

  const statusSelect = h(
    'select',
    { id: 'pg-campaigns-status', name: 'status' },
    h('option', { value: '' }, 'All statuses'),
    STATUSES.map((s) => h('option', { value: s, selected: s === remembered.status }, s[0] + s.slice(1).toLowerCase())),
  );
  statusSelect.addEventListener('change', () => {
    remembered.status = statusSelect.value;
    page = { first: PAGE_SIZE };
    load();
  });
  const toolbar = h('div', { class: 'pg-toolbar' }, h('div', { class: 'pg-field' }, h('label', { for: 'pg-campaigns-status' }, 'Status'), statusSelect));
  const results = h('div', { class: 'pg-results', 'aria-busy': 'false' });
  render(el, h('div', { class: 'pg-view pg-campaigns' }, h('header', { class: 'pg-head' }, h('h1', { class: 'pg-h1' }, 'Campaigns')), toolbar, results));

  function stopLive() {
    for (const stop of live.values()) stop();
    live.clear();
  }

  async function load() {
    const current = loads.next();
    remembered.page = page;
    results.setAttribute('aria-busy', 'true');
    if (!results.querySelector('table')) render(results, loadingState('Loading campaigns…'));
    else results.classList.add('pg-stale');
    try {
      const vars = { ...page };
      if (remembered.status) vars.where = { status: remembered.status };
      const data = await client.request(CAMPAIGNS_QUERY, vars);
      if (!current()) return;
      show(data.emailCampaigns);
    } catch (err) {
      if (!current()) return;
      stopLive();
      render(results, errorState(err, load));
    } finally {
      if (current()) {
        results.setAttribute('aria-busy', 'false');
        results.classList.remove('pg-stale');
      }
    }
  }

  function show(conn) {
    stopLive();
    const campaigns = conn.edges.map((e) => e.node);
    if (!campaigns.length) {
      render(
        results,
        remembered.status
          ? emptyState(`No ${remembered.status.toLowerCase()} campaigns.`, 'Choose another status, or all of them.')
          : emptyState('No email campaigns yet.', 'Create one with the campaignCreate mutation (a segment and a subject and body, or a template); it shows up here as a draft ready to send.'),
      );
      return;
    }
    const table = h(
      'table',
      { class: 'pg-table pg-campaigns-table', dataset: { testid: 'campaigns-table' } },
      h('caption', { class: 'pg-sr-only' }, 'Email campaigns'),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', { scope: 'col' }, 'Campaign'),
          h('th', { scope: 'col' }, 'Status'),
          h('th', { scope: 'col', class: 'pg-num' }, 'Recipients'),
          h('th', { scope: 'col', class: 'pg-num' }, 'Sent'),
          h('th', { scope: 'col', class: 'pg-num' }, 'Failed or bounced'),
          h('th', { scope: 'col', class: 'pg-num' }, 'Opened'),
          h('th', { scope: 'col', class: 'pg-num' }, 'Clicked'),
        ),
      ),
      h('tbody', {}, campaigns.map(row)),
    );
    render(
      results,
      h('div', { class: 'pg-table-wrap' }, table),
      pager({
        pageInfo: conn.pageInfo,
        totalCount: conn.totalCount,
        shown: campaigns.length,
        pageSize: PAGE_SIZE,
        label: 'campaigns',
        onPage: (p) => {
          page = p;
          load();
        },
      }),
    );
    // Counters of the campaigns in flight follow their progress events.
    for (const c of campaigns.filter((x) => LIVE_STATUSES.has(x.status)).slice(0, LIVE_IN_LIST)) {
      live.set(
        c.id,
        client.subscribe(PROGRESS_SUBSCRIPTION, { campaignId: c.id }, {
          next: (data) => {
            const p = data?.campaignProgress;
            const tr = p && results.querySelector(`tr[data-campaign-id="${CSS.escape(p.campaignId)}"]`);
            if (!tr) return;
            const fresh = row({ ...c, status: p.status, recipientsCount: p.recipients, sentCount: p.sent, failedCount: p.failed, uniqueOpenedCount: c.uniqueOpenedCount, uniqueClickedCount: c.uniqueClickedCount });
            Object.assign(c, { status: p.status, recipientsCount: p.recipients, sentCount: p.sent, failedCount: p.failed });
            tr.replaceWith(fresh);
          },
        }),
      );
    }
  }

  function row(c) {
    const href = `#/campaigns/${encodeURIComponent(c.id)}`;
    const tr = h(
      'tr',
      { class: 'pg-clickable', dataset: { testid: 'campaign-row', campaignId: c.id, status: c.status } },
      h(
        'td',
        { dataset: { label: 'Campaign' } },
        h('a', { href, class: 'pg-row-link' }, c.name),
        h('div', { class: 'pg-muted pg-small' }, c.segment?.name ? `To ${c.segment.name} · ` : '', c.completedAt ? ['Sent ', timeEl(c.completedAt, 'date')] : c.startedAt ? ['Started ', timeEl(c.startedAt, 'date')] : ['Created ', timeEl(c.createdAt, 'date')]),
      ),
      h('td', { dataset: { label: 'Status' } }, badge(c.status, STATUS_KIND[c.status])),
      h('td', { class: 'pg-num', dataset: { label: 'Recipients' } }, fmtNumber(c.recipientsCount)),
      h('td', { class: 'pg-num', dataset: { label: 'Sent' } }, fmtNumber(c.sentCount)),
      h('td', { class: 'pg-num', dataset: { label: 'Failed or bounced' } }, fmtNumber(c.failedCount + (c.bouncedCount || 0))),
      h('td', { class: 'pg-num', dataset: { label: 'Opened' } }, fmtNumber(c.uniqueOpenedCount)),
      h('td', { class: 'pg-num', dataset: { label: 'Clicked' } }, fmtNumber(c.uniqueClickedCount)),
    );
    tr.addEventListener('click', (e) => {
      if (e.target.closest('a, button') || window.getSelection()?.toString()) return;
      ctx.navigate ? ctx.navigate(href) : (window.location.hash = href);
    });
    return tr;
  }

  load();
  return () => {
    loads.dispose();
    stopLive();
  };
}

// The detail ---------------------------------------------------------------

function mountDetail(el, ctx, id) {
  const { client } = ctx;
  const loads = latest();
  let campaign = null;
  let unsubscribe = () => {};
  let conn = null;
  let refetchTimer = null;
  let busy = null; // the action in progress
  let confirming = null; // the action waiting for confirmation
  let lastErrors = null;

  const body = h('div', { class: 'pg-detail-body', 'aria-busy': 'true' }, loadingState('Loading campaign…'));
  render(
    el,
    h('div', { class: 'pg-view pg-campaign', dataset: { testid: 'campaign-detail' } }, h('nav', { 'aria-label': 'Breadcrumb' }, h('a', { href: '#/campaigns', class: 'pg-back' }, '← Campaigns')), body),
  );

  // Parts updated in place by progress events.
  const statusSlot = h('span', { class: 'pg-status-slot' });
  const progressFill = h('div', { class: 'pg-bar-fill' });
  const progress = h('div', { class: 'pg-bar', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0', 'aria-labelledby': 'pg-progress-label' }, progressFill);
  const progressText = h('span', { id: 'pg-progress-label' });
  const progressBox = h(
    'div',
    { class: 'pg-progress', dataset: { testid: 'campaign-progress', sent: '0' } },
    h('div', { class: 'pg-progress-head' }, h('strong', {}, 'Progress'), h('span', { class: 'pg-progress-live', 'aria-live': 'polite', 'aria-atomic': 'true' }, progressText)),
    progress,
  );
  const counters = h('div', { class: 'pg-kpis pg-counters' });
  const actionsBox = h('div', { class: 'pg-actions', role: 'group', 'aria-label': 'Campaign actions' });
  const errorsSlot = h('div', { class: 'pg-errors-slot' });
  const detailsSlot = h('div', {});

  async function load() {
    const current = loads.next();
    body.setAttribute('aria-busy', 'true');
    render(body, loadingState('Loading campaign…'));
    try {
      const data = await client.request(CAMPAIGN_QUERY, { id });
      if (!current()) return;
      if (!data.node || !data.node.status) {
        notFound();
        return;
      }
      campaign = data.node;
      layout();
      startLive();
    } catch (err) {
      if (!current()) return;
      if (err.code === 'NOT_FOUND' || err.code === 'BAD_USER_INPUT') notFound();
      else render(body, errorState(err, load));
    } finally {
      if (current()) body.setAttribute('aria-busy', 'false');
    }
  }

  function notFound() {
    render(body, h('div', { class: 'pg-state pg-empty', role: 'alert' }, h('p', { class: 'pg-state-title' }, 'This campaign does not exist in your store.'), h('p', {}, h('a', { href: '#/campaigns' }, 'Back to the campaigns'))));
  }

  function layout() {
    conn = conn || connectionIndicator(client);
    render(
      body,
      h('header', { class: 'pg-head pg-campaign-head' }, h('h1', { class: 'pg-h1' }, campaign.name), h('div', { class: 'pg-head-meta' }, statusSlot, conn.el)),
      section('Sending', { class: 'pg-section pg-sending' }, progressBox, counters, actionsBox, errorsSlot),
      detailsSlot,
    );
    update();
  }

  /** Renders everything from campaign (after a load, a progress event or an action). */
  function update() {
    const c = campaign;
    render(statusSlot, badge(c.status, STATUS_KIND[c.status]));
    statusSlot.dataset.status = c.status;

    const done = c.sentCount + c.failedCount + c.bouncedCount;
    const percent = pct(done, c.recipientsCount);
    progress.setAttribute('aria-valuenow', String(percent));
    progress.setAttribute('aria-valuetext', `${percent}%`);
    progressFill.style.width = `${percent}%`;
    progressBox.dataset.sent = String(c.sentCount);
    progressBox.dataset.failed = String(c.failedCount);
    progressBox.dataset.bounced = String(c.bouncedCount);
    progressBox.dataset.recipients = String(c.recipientsCount);
    progressBox.dataset.status = c.status;
    progressText.textContent =
      c.status === 'DRAFT'
        ? 'Not sent yet.'
        : c.recipientsCount === 0 && c.status === 'SCHEDULED'
          ? c.scheduledAt && new Date(c.scheduledAt) > new Date()
            ? `Scheduled for ${new Date(c.scheduledAt).toLocaleString()}.`
            : 'Starting…'
          : `${fmtNumber(done)} of ${fmtNumber(c.recipientsCount)} processed (${percent}%) · ${fmtNumber(c.sentCount)} sent · ${humanStatus(c.status)}`;

    render(
      counters,
      counter('Recipients', c.recipientsCount, 'recipients'),
      counter('Sent', c.sentCount, 'sent'),
      counter('Failed', c.failedCount, 'failed', c.failedCount ? 'bad' : null),
      counter('Bounced', c.bouncedCount, 'bounced', c.bouncedCount ? 'warn' : null),
      counter('Opened', c.uniqueOpenedCount, 'opened', null, c.sentCount ? `${pct(c.uniqueOpenedCount, c.sentCount)}% · ${fmtNumber(c.openedCount)} opens` : null),
      counter('Clicked', c.uniqueClickedCount, 'clicked', null, c.sentCount ? `${pct(c.uniqueClickedCount, c.sentCount)}% · ${fmtNumber(c.clickedCount)} clicks` : null),
      counter('Unsubscribed', c.unsubscribedCount, 'unsubscribed'),
      counter('Complaints', c.complainedCount, 'complained', c.complainedCount ? 'bad' : null),
    );

    renderActions();
    render(errorsSlot, lastErrors ? userErrorsBox(lastErrors) : null, c.status === 'FAILED' && c.failureReason ? h('p', { class: 'pg-usererrors', role: 'alert' }, `Sending failed: ${c.failureReason}`) : null);
    renderDetails();
  }

  function counter(label, value, key, kind, hint) {
    return h(
      'div',
      { class: ['pg-kpi', kind && `pg-kpi-${kind}`], dataset: { counter: key } },
      h('div', { class: 'pg-kpi-label' }, label),
      h('div', { class: 'pg-kpi-value' }, fmtNumber(value)),
      hint ? h('div', { class: 'pg-kpi-hint' }, hint) : null,
    );
  }

  function renderActions() {
    const allowed = ACTIONS_BY_STATUS[campaign.status] || [];
    if (!allowed.length) {
      render(actionsBox, h('p', { class: 'pg-muted' }, `No action: the campaign is ${campaign.status.toLowerCase()}.`));
      return;
    }
    if (confirming && !allowed.includes(confirming)) confirming = null;
    if (confirming) {
      const a = ACTIONS[confirming];
      const yes = h('button', { type: 'button', class: 'pg-btn pg-btn-danger', on: { click: () => run(confirming) } }, `Yes, ${a.label.toLowerCase()}`);
      render(
        actionsBox,
        h('p', { class: 'pg-confirm', role: 'alert' }, a.confirm),
        yes,
        h('button', { type: 'button', class: 'pg-btn', on: { click: () => { confirming = null; renderActions(); actionsBox.querySelector('button')?.focus(); } } }, 'Keep it'),
      );
      yes.focus();
      return;
    }
    render(
      actionsBox,
      allowed.map((key) => {
        const a = ACTIONS[key];
        return h(
          'button',
          {
            type: 'button',
            class: ['pg-btn', a.kind && `pg-btn-${a.kind}`],
            disabled: !!busy,
            dataset: { action: key },
            on: {
              click: () => {
                if (a.confirm) {
                  confirming = key;
                  renderActions();
                } else run(key);
              },
            },
          },
          busy === key ? a.busy : a.label,
        );
      }),
    );
  }

  async function run(key) {
    const a = ACTIONS[key];
    busy = key;
    confirming = null;
    lastErrors = null;
    renderActions();
    render(errorsSlot);
    try {
      const data = await client.request(mutation(a.mutation), { id });
      if (loads.disposed) return;
      const payload = data[a.mutation];
      if (payload.userErrors?.length) {
        lastErrors = payload.userErrors;
      } else {
        ctx.toast?.(a.done, 'success');
      }
      if (payload.campaign) campaign = { ...campaign, ...payload.campaign };
    } catch (err) {
      if (loads.disposed) return;
      lastErrors = [{ message: err.message, code: err.code }];
    } finally {
      busy = null;
    }
    update();
    const focusTarget = actionsBox.querySelector('button:not([disabled])') || errorsSlot.querySelector('[role=alert]');
    if (focusTarget && focusTarget.tagName === 'BUTTON') focusTarget.focus();
    scheduleRefetch(1500);
  }

  function renderDetails() {
    const c = campaign;
    render(
      detailsSlot,
      h(
        'div',
        { class: 'pg-grid-2' },
        section(
          'Email',
          {},
          dl([
            ['Subject', c.subject],
            ['Preheader', c.preheader || null],
            ['From', [c.fromName, c.fromEmail && `<${c.fromEmail}>`].filter(Boolean).join(' ') || 'The store’s name and sender'],
            ['Reply-to', c.replyTo || null],
            ['Template', c.template?.name || (c.template ? 'Template' : 'Own subject and body')],
            ['Audience', c.segment ? `${c.segment.name} (${fmtNumber(c.segment.memberCount)} members; subscribed ones receive it)` : 'Every subscribed customer'],
            ['Send rate', c.sendRatePerMinute ? `${fmtNumber(c.sendRatePerMinute)} emails a minute` : 'Server default'],
            ['Tracking', [c.trackOpens && 'opens', c.trackClicks && 'clicks'].filter(Boolean).join(' and ') || 'Off'],
          ]),
        ),
        section(
          'Timeline and results',
          {},
          dl([
            ['Created', timeEl(c.createdAt)],
            ['Scheduled', c.scheduledAt ? timeEl(c.scheduledAt) : null],
            ['Started', c.startedAt ? timeEl(c.startedAt) : null],
            ['Paused', c.pausedAt ? timeEl(c.pausedAt) : null],
            ['Completed', c.completedAt ? timeEl(c.completedAt) : null],
            ['Cancelled', c.cancelledAt ? timeEl(c.cancelledAt) : null],
            ['Attributed revenue', c.attribution ? `${formatMoney(c.attribution.revenue)} from ${fmtNumber(c.attribution.orders)} orders (${c.attribution.windowHours / 24}-day window after a click)` : null],
          ]),
        ),
      ),
    );
  }

  function humanStatus(s) {
    return { SCHEDULED: 'scheduled', SENDING: 'sending', PAUSED: 'paused', SENT: 'finished', CANCELLED: 'cancelled', FAILED: 'failed', DRAFT: 'draft' }[s] || s.toLowerCase();
  }

  // Bounced counts, opens by recipient and the timestamps are not in the
  // progress events: read them again shortly after a burst of events.
  function scheduleRefetch(ms = 1000) {
    if (refetchTimer) return;
    refetchTimer = setTimeout(async () => {
      refetchTimer = null;
      try {
        const data = await client.request(CAMPAIGN_QUERY, { id });
        if (loads.disposed || !data.node?.status) return;
        campaign = mergeProgress(data.node, campaign);
        update();
      } catch {
        // The progress events keep the counters current meanwhile.
      }
    }, ms);
  }

  // A read can land after a newer progress event: keep the higher counters
  // of a campaign whose status did not change.
  function mergeProgress(fresh, known) {
    if (!known || fresh.status !== known.status) return fresh;
    return {
      ...fresh,
      sentCount: Math.max(fresh.sentCount, known.sentCount),
      failedCount: Math.max(fresh.failedCount, known.failedCount),
      recipientsCount: Math.max(fresh.recipientsCount, known.recipientsCount),
    };
  }

  const seen = new Set();
  function startLive() {
    unsubscribe();
    unsubscribe = client.subscribe(PROGRESS_SUBSCRIPTION, { campaignId: id }, {
      next: (data) => {
        const p = data?.campaignProgress;
        if (!p || p.campaignId !== id || seen.has(p.eventId) || loads.disposed) return;
        seen.add(p.eventId);
        const statusChanged = p.status !== campaign.status;
        campaign = {
          ...campaign,
          status: p.status,
          recipientsCount: p.recipients,
          sentCount: statusChanged ? p.sent : Math.max(p.sent, campaign.sentCount),
          failedCount: statusChanged ? p.failed : Math.max(p.failed, campaign.failedCount),
          openedCount: Math.max(p.opened, campaign.openedCount),
          clickedCount: Math.max(p.clicked, campaign.clickedCount),
        };
        update();
        scheduleRefetch(statusChanged ? 300 : 2000);
      },
      error: (err) => {
        render(errorsSlot, h('p', { class: 'pg-usererrors', role: 'alert' }, `Live progress stopped: ${err.message}`));
      },
    });
  }

  load();
  return () => {
    loads.dispose();
    clearTimeout(refetchTimer);
    unsubscribe();
    conn?.stop();
  };
}
