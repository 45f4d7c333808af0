package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// EmailTemplate is a reusable email design: subject, preheader and HTML/text
// bodies with merge variables ({{ customer.first_name }}, {{ order.number }}).
// Campaigns and workflow SEND_EMAIL steps render it; transactional mails
// (order confirmation, password reset) use templates of kind TRANSACTIONAL.
type EmailTemplate struct{ ent.Schema }

// Annotations of the EmailTemplate.
func (EmailTemplate) Annotations() []schema.Annotation {
	return append(adminList("marketing:read"), entsql.Annotation{Table: "email_templates"})
}

// Mixin of the EmailTemplate.
func (EmailTemplate) Mixin() []ent.Mixin { return base("email_templates") }

// Fields of the EmailTemplate.
func (EmailTemplate) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200).
			Comment("Internal name, unique per merchant.").
			Annotations(entgql.OrderField("NAME")),
		field.String("subject").NotEmpty().MaxLen(500).
			Comment("Subject line; may contain merge variables."),
		field.String("preheader").MaxLen(255).Optional().
			Comment("Preview text shown after the subject in the inbox."),
		field.Text("html_body").Default("").
			Comment("HTML body with merge variables."),
		field.Text("text_body").Optional().
			Comment("Plain-text alternative; derived from html_body when empty."),
		field.JSON("variables", map[string]any{}).Optional().
			Comment("Merge variables the template uses, with sample values for previews.").
			Annotations(entgql.Type("Map")),
		field.Enum("kind").Values("CAMPAIGN", "TRANSACTIONAL", "AUTOMATION").Default("CAMPAIGN").
			Comment("What the template is made for: broadcast, system mail or workflow step."),
		field.Bool("archived").Default(false).
			Comment("Archived templates are hidden from pickers but kept for past sends."),
	}
}

// Edges of the EmailTemplate.
func (EmailTemplate) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("campaigns", EmailCampaign.Type),
		edge.To("workflow_steps", WorkflowStep.Type),
		edge.To("sends", EmailSend.Type).
			Annotations(entgql.RelayConnection()),
	}
}

// Indexes of the EmailTemplate.
func (EmailTemplate) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("merchant_id", "name").Unique(),
		index.Fields("merchant_id", "kind", "archived"),
	}
}

// EmailCampaign is a one-off broadcast to a customer segment (or to every
// customer who consented to email marketing), sent now or at scheduled_at,
// throttled to send_rate_per_minute. The counters are kept up to date while
// sending and are what campaignProgress streams.
type EmailCampaign struct{ ent.Schema }

// Annotations of the EmailCampaign.
func (EmailCampaign) Annotations() []schema.Annotation {
	return append(adminList("marketing:read"), entsql.Annotation{Table: "email_campaigns"})
}

// Mixin of the EmailCampaign.
func (EmailCampaign) Mixin() []ent.Mixin { return base("email_campaigns") }

// Fields of the EmailCampaign.
func (EmailCampaign) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200).
			Comment("Internal name shown in the admin.").
			Annotations(entgql.OrderField("NAME")),
		field.String("subject").NotEmpty().MaxLen(500).
			Comment("Subject line; overrides the template's subject."),
		field.String("preheader").MaxLen(255).Optional().
			Comment("Inbox preview text; overrides the template's preheader."),
		field.String("from_name").MaxLen(200).Optional().
			Comment("Sender display name; the store name when empty."),
		field.String("from_email").MaxLen(254).Optional().
			Comment("Sender address; the store's verified sender when empty."),
		field.String("reply_to").MaxLen(254).Optional().
			Comment("Reply-To address, if different from from_email."),
		field.UUID("template_id", uuidType()).Optional().Nillable().
			Comment("Template rendered for each recipient, unless html_body is set."),
		field.UUID("segment_id", uuidType()).Optional().Nillable().
			Comment("Audience; null means every customer subscribed to email marketing."),
		field.Text("html_body").Optional().
			Comment("HTML body that overrides the template's."),
		field.Text("text_body").Optional().
			Comment("Plain-text body that overrides the template's."),
		field.Enum("status").
			Values("DRAFT", "SCHEDULED", "SENDING", "PAUSED", "SENT", "CANCELLED", "FAILED").
			Default("DRAFT"),
		field.Time("scheduled_at").Optional().Nillable().
			Comment("When a SCHEDULED campaign starts sending.").
			Annotations(entgql.OrderField("SCHEDULED_AT")),
		field.Time("started_at").Optional().Nillable().
			Comment("When sending began (the audience is snapshotted then)."),
		field.Time("completed_at").Optional().Nillable().
			Comment("When the last email was handed to the provider.").
			Annotations(entgql.OrderField("COMPLETED_AT")),
		field.Time("paused_at").Optional().Nillable(),
		field.Time("cancelled_at").Optional().Nillable(),
		field.String("failure_reason").MaxLen(2000).Optional().
			Comment("Why the campaign FAILED (e.g. provider rejected the sender)."),
		field.Int("recipients_count").Default(0).NonNegative().
			Comment("Recipients in the audience snapshot (suppressed addresses excluded).").
			Annotations(entgql.OrderField("RECIPIENTS_COUNT")),
		field.Int("sent_count").Default(0).NonNegative().
			Comment("Emails accepted by the provider."),
		field.Int("failed_count").Default(0).NonNegative().
			Comment("Emails that failed after all attempts."),
		field.Int("opened_count").Default(0).NonNegative().
			Comment("Total opens, machine opens excluded."),
		field.Int("unique_opened_count").Default(0).NonNegative().
			Comment("Recipients who opened at least once."),
		field.Int("clicked_count").Default(0).NonNegative().
			Comment("Total link clicks."),
		field.Int("unique_clicked_count").Default(0).NonNegative().
			Comment("Recipients who clicked at least once."),
		field.Int("unsubscribed_count").Default(0).NonNegative(),
		field.Int("bounced_count").Default(0).NonNegative(),
		field.Int("complained_count").Default(0).NonNegative().
			Comment("Recipients who reported the email as spam."),
		field.Int("send_rate_per_minute").Default(0).NonNegative().
			Comment("Throttle in emails per minute; 0 uses the platform default."),
		field.Bool("track_opens").Default(true).
			Comment("Insert the open-tracking pixel."),
		field.Bool("track_clicks").Default(true).
			Comment("Rewrite links through the signed click redirect."),
		field.String("utm_source").MaxLen(100).Optional().
			Comment("utm_source appended to tracked links to the store."),
		field.String("utm_medium").MaxLen(100).Optional().
			Comment("utm_medium appended to tracked links (usually email)."),
		field.String("utm_campaign").MaxLen(200).Optional().
			Comment("utm_campaign appended to tracked links."),
		field.String("utm_content").MaxLen(200).Optional().
			Comment("utm_content appended to tracked links."),
	}
}

// Edges of the EmailCampaign.
func (EmailCampaign) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("template", EmailTemplate.Type).Ref("campaigns").
			Field("template_id").Unique(),
		edge.To("segment", CustomerSegment.Type).
			Field("segment_id").Unique(),
		edge.To("sends", EmailSend.Type).
			Annotations(entgql.RelayConnection()),
	}
}

// Indexes of the EmailCampaign.
func (EmailCampaign) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("merchant_id", "status"),
		index.Fields("merchant_id", "created_at"),
		// The scheduler (system path) polls SCHEDULED campaigns that are due.
		index.Fields("status", "scheduled_at"),
		index.Fields("template_id"),
		index.Fields("segment_id"),
	}
}

// AutomationWorkflow is a triggered journey (welcome series, abandoned cart,
// post-purchase): an event enrolls a customer, who then walks its steps.
type AutomationWorkflow struct{ ent.Schema }

// Annotations of the AutomationWorkflow.
func (AutomationWorkflow) Annotations() []schema.Annotation {
	return append(adminList("marketing:read"), entsql.Annotation{Table: "automation_workflows"})
}

// Mixin of the AutomationWorkflow.
func (AutomationWorkflow) Mixin() []ent.Mixin { return base("automation_workflows") }

// Fields of the AutomationWorkflow.
func (AutomationWorkflow) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200).
			Annotations(entgql.OrderField("NAME")),
		field.String("description").MaxLen(2000).Optional(),
		field.Enum("trigger_type").
			Values("CUSTOMER_CREATED", "ORDER_PLACED", "ORDER_PAID", "ORDER_FULFILLED",
				"CART_ABANDONED", "EVENT_TRACKED", "SEGMENT_ENTERED", "SEGMENT_EXITED").
			Comment("The domain event that enrolls a customer."),
		field.JSON("trigger_config", map[string]any{}).Optional().
			Comment("Trigger parameters: event name and property filters, segment id, abandonment delay.").
			Annotations(entgql.Type("Map")),
		field.Enum("status").Values("DRAFT", "ACTIVE", "PAUSED", "ARCHIVED").Default("DRAFT").
			Comment("Only ACTIVE workflows enroll; PAUSED ones hold their enrollments."),
		field.Bool("allow_reentry").Default(false).
			Comment("Whether a customer may be enrolled again after an earlier run."),
		field.Int("reentry_cooldown_seconds").Default(0).NonNegative().
			Comment("With allow_reentry, the minimum time between two enrollments of one customer."),
		field.Int("enrolled_count").Default(0).NonNegative().
			Comment("Enrollments ever created.").
			Annotations(entgql.OrderField("ENROLLED_COUNT")),
		field.Int("completed_count").Default(0).NonNegative().
			Comment("Enrollments that reached the end."),
		field.Time("activated_at").Optional().Nillable().
			Comment("When the workflow was last activated."),
	}
}

// Edges of the AutomationWorkflow.
func (AutomationWorkflow) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("steps", WorkflowStep.Type),
		edge.To("enrollments", WorkflowEnrollment.Type).
			Annotations(entgql.RelayConnection()),
	}
}

// Indexes of the AutomationWorkflow.
func (AutomationWorkflow) Indexes() []ent.Index {
	return []ent.Index{
		// The trigger consumer looks up the ACTIVE workflows of a trigger.
		index.Fields("merchant_id", "status", "trigger_type"),
		index.Fields("merchant_id", "created_at"),
	}
}

// WorkflowStep is one node of a workflow, ordered by position. After a step
// the run goes to next_position (default position+1); a CONDITION picks its
// next position from branches.
type WorkflowStep struct{ ent.Schema }

// Annotations of the WorkflowStep.
func (WorkflowStep) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Annotation{Table: "workflow_steps"}}
}

// Mixin of the WorkflowStep.
func (WorkflowStep) Mixin() []ent.Mixin { return base("workflow_steps") }

// Fields of the WorkflowStep.
func (WorkflowStep) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("workflow_id", uuidType()).Immutable(),
		field.Int("position").NonNegative().
			Comment("Order in the workflow, unique per workflow; 0 is the entry step.").
			Annotations(entgql.OrderField("POSITION")),
		field.String("name").MaxLen(200).Optional().
			Comment("Label shown in the workflow builder."),
		field.Enum("kind").
			Values("SEND_EMAIL", "WAIT", "CONDITION", "ADD_TAG", "REMOVE_TAG", "SET_ATTRIBUTE", "WEBHOOK", "EXIT"),
		field.JSON("config", map[string]any{}).Optional().
			Comment("Kind-specific settings: condition rules, tag, webhook URL and headers, subject override.").
			Annotations(entgql.Type("Map")),
		field.UUID("template_id", uuidType()).Optional().Nillable().
			Comment("Template a SEND_EMAIL step sends."),
		field.Int("wait_seconds").Default(0).NonNegative().
			Comment("Delay of a WAIT step."),
		field.Int("next_position").Optional().Nillable().
			Comment("Position of the step that follows; null means position+1 (or the end)."),
		field.JSON("branches", map[string]any{}).Optional().
			Comment(`Next position per CONDITION outcome, e.g. {"true": 3, "false": 5}.`).
			Annotations(entgql.Type("Map")),
	}
}

// Edges of the WorkflowStep.
func (WorkflowStep) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("workflow", AutomationWorkflow.Type).Ref("steps").
			Field("workflow_id").Unique().Required().Immutable(),
		edge.From("template", EmailTemplate.Type).Ref("workflow_steps").
			Field("template_id").Unique(),
		edge.To("current_enrollments", WorkflowEnrollment.Type).
			Comment("Enrollments currently at this step.").
			Annotations(entgql.RelayConnection()),
		edge.To("sends", EmailSend.Type).
			Comment("Emails this SEND_EMAIL step has sent.").
			Annotations(entgql.RelayConnection()),
	}
}

// Indexes of the WorkflowStep.
func (WorkflowStep) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("workflow_id", "position").Unique(),
		index.Fields("template_id"),
	}
}

// WorkflowEnrollment is one customer's run through a workflow. Workers lease
// due enrollments (status ACTIVE/WAITING, next_run_at <= now) by setting
// locked_until, execute the current step and advance it.
type WorkflowEnrollment struct{ ent.Schema }

// Annotations of the WorkflowEnrollment.
func (WorkflowEnrollment) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Annotation{Table: "workflow_enrollments"},
		entgql.RelayConnection(),
	}
}

// Mixin of the WorkflowEnrollment.
func (WorkflowEnrollment) Mixin() []ent.Mixin { return base("workflow_enrollments") }

// Fields of the WorkflowEnrollment.
func (WorkflowEnrollment) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("workflow_id", uuidType()).Immutable(),
		field.UUID("customer_id", uuidType()).Immutable(),
		field.UUID("current_step_id", uuidType()).Optional().Nillable().
			Comment("Step to run next; null once the run has ended."),
		field.Enum("status").Values("ACTIVE", "WAITING", "COMPLETED", "EXITED", "FAILED").
			Default("ACTIVE").
			Comment("ACTIVE: due now; WAITING: in a WAIT step until next_run_at."),
		field.Time("next_run_at").Optional().Nillable().
			Comment("When a worker should run the current step.").
			Annotations(entgql.OrderField("NEXT_RUN_AT")),
		field.Int("attempts").Default(0).NonNegative().
			Comment("Failed attempts at the current step; reset when the run advances."),
		field.String("last_error").MaxLen(2000).Optional(),
		field.String("trigger_event_id").MaxLen(100).Optional().
			Comment("Id of the event that caused the enrollment; dedupes redelivered triggers."),
		field.JSON("context", map[string]any{}).Optional().
			Comment("Trigger data the steps read: order id, cart id and lines, event properties.").
			Annotations(entgql.Type("Map")),
		field.Time("enrolled_at").Default(nowUTC).Immutable().
			Annotations(entgql.OrderField("ENROLLED_AT")),
		field.Time("completed_at").Optional().Nillable().
			Comment("When the run ended (completed, exited or failed)."),
		field.String("exit_reason").MaxLen(200).Optional().
			Comment("Why an EXITED run left, e.g. exit step, unsubscribed, workflow archived."),
		field.Time("locked_until").Optional().Nillable().
			Comment("Worker lease: no other worker takes the enrollment before this time.").
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("locked_by").MaxLen(100).Optional().
			Comment("Id of the worker that holds the lease.").
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Edges of the WorkflowEnrollment.
func (WorkflowEnrollment) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("workflow", AutomationWorkflow.Type).Ref("enrollments").
			Field("workflow_id").Unique().Required().Immutable(),
		edge.To("customer", Customer.Type).
			Field("customer_id").Unique().Required().Immutable(),
		edge.From("current_step", WorkflowStep.Type).Ref("current_enrollments").
			Field("current_step_id").Unique(),
		edge.To("sends", EmailSend.Type),
	}
}

// Indexes of the WorkflowEnrollment.
func (WorkflowEnrollment) Indexes() []ent.Index {
	return []ent.Index{
		// Workers (system path) poll due enrollments across merchants.
		index.Fields("status", "next_run_at"),
		index.Fields("workflow_id", "status"),
		// One enrollment per triggering event and customer (at-least-once delivery).
		index.Fields("workflow_id", "customer_id", "trigger_event_id").Unique(),
		index.Fields("customer_id"),
		index.Fields("current_step_id"),
	}
}

// EmailSend is one email to one recipient, from a campaign, a workflow step
// or a transactional trigger. It is the unit of the send queue, of delivery
// status and of open/click tracking.
type EmailSend struct{ ent.Schema }

// Annotations of the EmailSend.
func (EmailSend) Annotations() []schema.Annotation {
	return append(adminList("marketing:read"), entsql.Annotation{Table: "email_sends"})
}

// Mixin of the EmailSend.
func (EmailSend) Mixin() []ent.Mixin { return base("email_sends") }

// Fields of the EmailSend.
func (EmailSend) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("campaign_id", uuidType()).Optional().Nillable().Immutable(),
		field.UUID("workflow_step_id", uuidType()).Optional().Nillable().Immutable(),
		field.UUID("enrollment_id", uuidType()).Optional().Nillable().Immutable(),
		field.UUID("customer_id", uuidType()).Optional().Nillable().
			Comment("Recipient profile; null for guests and after the customer is erased."),
		field.UUID("template_id", uuidType()).Optional().Nillable(),
		field.Enum("kind").Values("CAMPAIGN", "AUTOMATION", "TRANSACTIONAL").Default("CAMPAIGN").
			Comment("What produced the email."),
		field.String("to_email").NotEmpty().MaxLen(254).
			Annotations(entgql.OrderField("TO_EMAIL")),
		field.String("subject").NotEmpty().MaxLen(500).
			Comment("Subject as rendered for this recipient."),
		field.String("message_id").MaxLen(255).Optional().Nillable().Unique().
			Comment("RFC 5322 Message-ID; matches provider bounce and complaint notices."),
		field.Enum("status").
			Values("QUEUED", "SENDING", "SENT", "FAILED", "BOUNCED", "COMPLAINED").
			Default("QUEUED"),
		field.Int("attempts").Default(0).NonNegative(),
		field.String("last_error").MaxLen(2000).Optional().
			Comment("Last provider error or bounce diagnostic."),
		field.String("idempotency_key").NotEmpty().MaxLen(255).Immutable().
			Comment("Unique per merchant, e.g. campaign:<id>:customer:<id>; a resumed send never mails twice."),
		field.Time("queued_at").Default(nowUTC).Immutable(),
		field.Time("next_attempt_at").Optional().Nillable().
			Comment("Not sent before this time (retry back-off)."),
		field.Time("sent_at").Optional().Nillable().
			Annotations(entgql.OrderField("SENT_AT")),
		field.Int("open_count").Default(0).NonNegative().
			Comment("Opens, machine opens excluded."),
		field.Int("click_count").Default(0).NonNegative(),
		field.Time("first_opened_at").Optional().Nillable(),
		field.Time("first_clicked_at").Optional().Nillable(),
		field.Time("unsubscribed_at").Optional().Nillable().
			Comment("When the recipient unsubscribed through this email (RFC 8058 one-click or link)."),
		field.String("tracking_token").NotEmpty().MaxLen(64).Unique().Immutable().
			Sensitive().
			Comment("Random token in the /t/o, /t/c and /t/u URLs of this email.").
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Edges of the EmailSend.
func (EmailSend) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("campaign", EmailCampaign.Type).Ref("sends").
			Field("campaign_id").Unique().Immutable(),
		edge.From("workflow_step", WorkflowStep.Type).Ref("sends").
			Field("workflow_step_id").Unique().Immutable(),
		edge.From("enrollment", WorkflowEnrollment.Type).Ref("sends").
			Field("enrollment_id").Unique().Immutable(),
		edge.To("customer", Customer.Type).
			Field("customer_id").Unique(),
		edge.From("template", EmailTemplate.Type).Ref("sends").
			Field("template_id").Unique(),
		edge.To("opens", EmailOpen.Type),
		edge.To("clicks", EmailClick.Type),
	}
}

// Indexes of the EmailSend.
func (EmailSend) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("merchant_id", "idempotency_key").Unique(),
		// The sender (system path) polls the queue.
		index.Fields("status", "next_attempt_at"),
		index.Fields("campaign_id", "status"),
		index.Fields("merchant_id", "to_email"),
		index.Fields("merchant_id", "kind", "created_at"),
		index.Fields("workflow_step_id"),
		index.Fields("enrollment_id"),
		index.Fields("customer_id"),
		index.Fields("template_id"),
	}
}

// EmailOpen is one load of an email's tracking pixel.
type EmailOpen struct{ ent.Schema }

// Annotations of the EmailOpen.
func (EmailOpen) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Annotation{Table: "email_opens"}}
}

// Mixin of the EmailOpen.
func (EmailOpen) Mixin() []ent.Mixin { return base("email_opens") }

// Fields of the EmailOpen.
func (EmailOpen) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("send_id", uuidType()).Immutable(),
		field.Time("opened_at").Default(nowUTC).Immutable().
			Annotations(entgql.OrderField("OPENED_AT")),
		field.String("ip").MaxLen(64).Optional(),
		field.String("user_agent").MaxLen(512).Optional(),
		field.Bool("is_machine_open").Default(false).Immutable().
			Comment("Pixel fetched by a privacy proxy (Apple Mail Privacy Protection, image prefetch), not a person."),
	}
}

// Edges of the EmailOpen.
func (EmailOpen) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("send", EmailSend.Type).Ref("opens").
			Field("send_id").Unique().Required().Immutable(),
	}
}

// Indexes of the EmailOpen.
func (EmailOpen) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("send_id", "opened_at"),
		index.Fields("merchant_id", "opened_at"),
	}
}

// EmailClick is one click on a tracked link of an email.
type EmailClick struct{ ent.Schema }

// Annotations of the EmailClick.
func (EmailClick) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Annotation{Table: "email_clicks"}}
}

// Mixin of the EmailClick.
func (EmailClick) Mixin() []ent.Mixin { return base("email_clicks") }

// Fields of the EmailClick.
func (EmailClick) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("send_id", uuidType()).Immutable(),
		field.String("url").NotEmpty().MaxLen(2048).Immutable().
			Comment("Destination the recipient was redirected to."),
		field.Int("link_index").Default(0).NonNegative().Immutable().
			Comment("Position of the link in the email body, for per-link reports."),
		field.Time("clicked_at").Default(nowUTC).Immutable().
			Annotations(entgql.OrderField("CLICKED_AT")),
		field.String("ip").MaxLen(64).Optional(),
		field.String("user_agent").MaxLen(512).Optional(),
	}
}

// Edges of the EmailClick.
func (EmailClick) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("send", EmailSend.Type).Ref("clicks").
			Field("send_id").Unique().Required().Immutable(),
	}
}

// Indexes of the EmailClick.
func (EmailClick) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("send_id", "clicked_at"),
		index.Fields("merchant_id", "clicked_at"),
	}
}
