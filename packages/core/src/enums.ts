import { z } from 'zod';

/** What a communication is about; one template family per type. */
export const messageTypes = [
  'welcome',
  'budget_summary',
  'vendor_options',
  'selection_confirmation',
  'blueprint_delivery',
  'error_notification',
  'reminder',
] as const;
export const MessageTypeSchema = z.enum(messageTypes);
export type MessageType = z.infer<typeof MessageTypeSchema>;
/** @example MessageType.budget_summary === 'budget_summary' */
export const MessageType = MessageTypeSchema.enum;

/** The channels the engine can send on. */
export const messageChannels = ['email', 'sms', 'whatsapp'] as const;
export const MessageChannelSchema = z.enum(messageChannels);
export type MessageChannel = z.infer<typeof MessageChannelSchema>;
/** @example MessageChannel.email === 'email' */
export const MessageChannel = MessageChannelSchema.enum;

/** How urgent a communication is; drives channel choice and whether quiet hours apply. */
export const urgencyLevels = ['low', 'normal', 'high', 'critical'] as const;
export const UrgencyLevelSchema = z.enum(urgencyLevels);
export type UrgencyLevel = z.infer<typeof UrgencyLevelSchema>;
/** @example UrgencyLevel.critical === 'critical' */
export const UrgencyLevel = UrgencyLevelSchema.enum;

/**
 * What kind of failure a provider error is; decides retry, wait or fallback
 * (see ARCHITECTURE.md, "Queues").
 */
export const errorCategories = ['transient', 'rate_limit', 'permanent', 'auth_failure'] as const;
export const ErrorCategorySchema = z.enum(errorCategories);
export type ErrorCategory = z.infer<typeof ErrorCategorySchema>;
/** @example ErrorCategory.rate_limit === 'rate_limit' */
export const ErrorCategory = ErrorCategorySchema.enum;
